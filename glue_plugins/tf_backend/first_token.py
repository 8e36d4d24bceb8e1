"""The last encoder layer computes only the token the classification head reads (as torch's and flax's).

A BERT-family TF sequence classifier reads position 0 of the last layer (BERT's pooler, RoBERTa's
and ELECTRA's heads). That layer still needs every token's keys and values, but its queries,
attention output and feed-forward block only for the first token: the last layer's ``call`` is
replaced on the instance by one that does just that, for the same logits and gradients up to
rounding. Any call asking for attention weights, caches or cross-attention runs the layer's own.
"""

from __future__ import annotations

import types
from typing import Any

# Classes whose head reads position 0 of the last hidden state and whose layers are TFBertLayer's
# copies (attention taking encoder_hidden_states for keys and values, intermediate, bert_output).
FIRST_TOKEN_HEADS = frozenset(
    {
        "TFBertForSequenceClassification",
        "TFRobertaForSequenceClassification",
        "TFXLMRobertaForSequenceClassification",
        "TFCamembertForSequenceClassification",
        "TFElectraForSequenceClassification",
    }
)


def first_token_call(
    self: Any,
    hidden_states: Any,
    attention_mask: Any,
    head_mask: Any,
    encoder_hidden_states: Any,
    encoder_attention_mask: Any,
    past_key_value: Any,
    output_attentions: bool,
    training: bool = False,
) -> tuple[Any, ...]:
    if encoder_hidden_states is not None or past_key_value is not None or output_attentions:
        return self.full_call(hidden_states, attention_mask, head_mask, encoder_hidden_states,
                              encoder_attention_mask, past_key_value, output_attentions, training=training)
    first = hidden_states[:, :1]
    # Queries from the first token, keys and values (under the same padding mask, which fits one
    # query as it fits many) from every token: the attention's own cross-attention path.
    attended = self.attention(
        input_tensor=first, attention_mask=attention_mask, head_mask=head_mask,
        encoder_hidden_states=hidden_states, encoder_attention_mask=attention_mask, past_key_value=None,
        output_attentions=False, training=training,
    )[0]
    return (self.bert_output(hidden_states=self.intermediate(hidden_states=attended), input_tensor=attended,
                             training=training),)


def reads_first_token_only(model: Any) -> bool:
    config = model.config
    encoder = getattr(getattr(model, model.base_model_prefix, None), "encoder", None)
    return (
        type(model).__name__ in FIRST_TOKEN_HEADS
        and not getattr(config, "is_decoder", False)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and hasattr(encoder, "layer")
    )


def compute_first_token_last(model: Any) -> bool:
    """Make ``model``'s last layer compute the first token only; False (nothing changed) for other models."""
    if not reads_first_token_only(model):
        return False
    last = getattr(model, model.base_model_prefix).encoder.layer[-1]
    last.full_call = last.call
    last.call = types.MethodType(first_token_call, last)
    return True
