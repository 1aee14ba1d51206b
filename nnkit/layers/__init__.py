"""Keras-style layers.  One family per module; all are re-exported here.

``get(class_name)`` finds a layer class by the name its config uses;
``serialize``/``deserialize`` turn a layer into a JSON-able dict and back;
``register`` makes a custom layer known to them.
"""
from nnkit.layers.activations import ELU, LeakyReLU, ReLU, ReLU6, Softmax
from nnkit.layers.augmentation import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                                       RandomTranslation, RandomZoom)
from nnkit.layers.base import Layer
from nnkit.layers.convolutional import Conv2D, DepthwiseConv2D, SeparableConv2D
from nnkit.layers.convolutional_transpose import Conv2DTranspose
from nnkit.layers.core import Activation, Dense, Dropout
from nnkit.layers.input import Input, InputLayer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.lambda_layer import Identity, Lambda
from nnkit.layers.merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average,
                                concatenate, maximum, minimum, multiply, subtract)
from nnkit.layers.naming import clear_session
from nnkit.layers.attention import AdditiveAttention, Attention, Dot, MultiHeadAttention
from nnkit.layers.bidirectional import Bidirectional
from nnkit.layers.embedding import Embedding
from nnkit.layers.normalization import BatchNormalization, GroupNormalization, LayerNormalization
from nnkit.layers.normalized_dense import NormalizedDense
from nnkit.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from nnkit.layers.prelu import PReLU
from nnkit.layers.preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from nnkit.layers.rearranging import Permute, RepeatVector
from nnkit.layers.recurrent import GRU, LSTM, SimpleRNN
from nnkit.layers.rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from nnkit.layers.registry import custom_object_scope, deserialize, get, register, serialize
from nnkit.layers.regularization import (ActivityRegularization, GaussianDropout, GaussianNoise, SpatialDropout1D,
                                         SpatialDropout2D, SpatialDropout3D)
from nnkit.layers.masking import Masking
from nnkit.layers.resampling import Cropping2D, UpSampling2D
from nnkit.layers.sequence import (AveragePooling1D, Conv1D, Cropping1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
                                   MaxPooling1D, UpSampling1D, ZeroPadding1D)
from nnkit.layers.reshaping import Flatten, Reshape, ZeroPadding2D
from nnkit.layers.symbolic import SymbolicTensor
from nnkit.layers.time_distributed import TimeDistributed

# Keras aliases
Convolution1D = Conv1D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = [
    "SimpleRNN", "LSTM", "GRU", "Bidirectional", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "Dot", "Attention", "AdditiveAttention", "MultiHeadAttention", "Embedding", "LayerNormalization", "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D",
    "GroupNormalization", "Masking", "TimeDistributed", "SpatialDropout1D", "SpatialDropout3D",
    "GlobalMaxPooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D", "Convolution1D", "MaxPool1D", "AvgPool1D",
    "GlobalAvgPool1D", "GlobalMaxPool1D",
    "Layer", "Input", "InputLayer", "InputSpec", "SymbolicTensor",
    "Dense", "Activation", "Dropout", "Flatten", "Reshape", "ZeroPadding2D",
    "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "BatchNormalization", "NormalizedDense", "ReLU", "ReLU6", "LeakyReLU", "ELU", "Softmax",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
    "Conv2DTranspose", "UpSampling2D", "Cropping2D", "Permute", "RepeatVector", "Identity", "Lambda",
    "PReLU", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization",
    "Rescaling", "Normalization", "Resizing", "CenterCrop",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop", "RandomContrast",
    "RandomBrightness",
    "Convolution2D", "Convolution2DTranspose", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "get", "register", "serialize", "deserialize", "custom_object_scope", "clear_session",
]
