"""One chosen subnet of a run: which architecture it is, its export as a standalone model with
the supernet's weights (``subnet.pt``, ``model.onnx``), and its retraining from scratch."""
