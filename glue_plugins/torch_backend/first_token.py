"""The last encoder layer computes only the token the classification head reads.

A BERT-family sequence classifier reads one position of the last layer: the first token ([CLS] or
<s>), through BERT's pooler or RoBERTa's and ELECTRA's classification heads. The last layer still
needs every token's keys and values, but its queries, attention output and feed-forward block are
needed for the first token only: about 5/6 of one layer's work per token is skipped, the same
logits and gradients up to float rounding. Any other call (attention weights, head masks, caches,
cross-attention) runs the layer's own forward.
"""

from __future__ import annotations

import types
from typing import Any

# Classes whose head reads position 0 of the last hidden state and whose layers are BertLayer's
# copies (attention.self taking encoder_hidden_states for keys and values, attention.output,
# feed_forward_chunk), in transformers 4.x.
FIRST_TOKEN_HEADS = frozenset(
    {
        "BertForSequenceClassification",
        "RobertaForSequenceClassification",
        "XLMRobertaForSequenceClassification",
        "CamembertForSequenceClassification",
        "ElectraForSequenceClassification",
    }
)


def first_token_forward(
    self: Any,
    hidden_states: Any,
    attention_mask: Any = None,
    head_mask: Any = None,
    encoder_hidden_states: Any = None,
    **options: Any,
) -> tuple[Any, ...]:
    plain = head_mask is None and encoder_hidden_states is None
    if not plain or options.get("output_attentions") or options.get("past_key_values") is not None:
        return self.full_forward(hidden_states, attention_mask, head_mask, encoder_hidden_states, **options)
    first = hidden_states[:, :1]
    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] > 1:
        attention_mask = attention_mask[:, :, :1]  # SDPA's (batch, 1, queries, keys) mask: the first query's row
    # Queries from the first token, keys and values from every token: the attention's own
    # cross-attention path computes exactly that.
    context = self.attention.self(first, attention_mask=attention_mask, encoder_hidden_states=hidden_states)[0]
    return (self.feed_forward_chunk(self.attention.output(context, first)),)


def reads_first_token_only(model: Any) -> bool:
    config = model.config
    return (
        type(model).__name__ in FIRST_TOKEN_HEADS
        and not getattr(config, "is_decoder", False)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and hasattr(getattr(model.base_model, "encoder", None), "layer")
    )


def compute_first_token_last(model: Any) -> bool:
    """Make ``model``'s last layer compute the first token only; False (nothing changed) for other models."""
    if not reads_first_token_only(model):
        return False
    last = model.base_model.encoder.layer[-1]
    last.full_forward = last.forward
    last.forward = types.MethodType(first_token_forward, last)
    return True
