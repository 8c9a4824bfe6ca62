"""nn.Modules of the lessons: the 2-D ToyMLP, the MNIST SmallUNet, the metric classifier, and their embeddings."""
from teachkit.models.classifier import MnistClassifier
from teachkit.models.embeddings import LabelEmbedding, TimestepEmbedding, sinusoidal_embedding
from teachkit.models.toy_mlp import ToyMLP
from teachkit.models.unet import SmallUNet

__all__ = ["ToyMLP", "SmallUNet", "MnistClassifier", "sinusoidal_embedding", "TimestepEmbedding", "LabelEmbedding", "MODEL_CLASSES"]

# class name (as recorded in a checkpoint's JSON) -> class; checkpoints are rebuilt from config, never unpickled
MODEL_CLASSES = {cls.__name__: cls for cls in (ToyMLP, SmallUNet, MnistClassifier)}
