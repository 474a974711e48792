"""The model files: only what a saved model folder copies beside its weights.

One `configuration_<type>.py` / `modeling_<type>.py` pair per architecture, the layers and task head the recurrent
ones share (`*_rnn_utils.py`) and their CPU fast paths (`rnn_kernels.py`). These files import nothing from the rest
of the package, so that a folder saved with them loads with `trust_remote_code=True` anywhere.
"""
