"""Recurrent time loops: for now the reference's (the Cython kernel lands in csrc/rnn.pyx)."""
from ..reference.rnn import (gru_backward, gru_forward, lstm_backward, lstm_forward,  # noqa: F401
                             simple_rnn_backward, simple_rnn_forward)

__all__ = ["simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]
