from glue_cli.cli import main

main()
