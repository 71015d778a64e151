"""Keras-style layers (``tp.layers``): build weights lazily from the first input, then ``call``.

Example:
    >>> import tapeflow as tp
    >>> layer = tp.layers.Dense(4, activation="relu")
    >>> layer(tp.ones((2, 3))).shape
    (2, 4)
"""

from tapeflow.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from tapeflow.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from tapeflow.layers.base import (
    Layer,
    clear_session,
    custom_objects_in_scope,
    deserialize,
    get_registered,
    register_serializable,
    serialize,
)
from tapeflow.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from tapeflow.layers.convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from tapeflow.layers.core import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Permute,
    RepeatVector,
    Reshape,
)
from tapeflow.layers.einsum_dense import EinsumDense
from tapeflow.layers.image_preprocessing import (
    CenterCrop,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from tapeflow.layers.input import Input, InputLayer, SymbolicTensor
from tapeflow.layers.lambda_layer import Lambda, OpLayer
from tapeflow.layers.lookup import (
    CategoryEncoding,
    Discretization,
    Hashing,
    IntegerLookup,
    StringLookup,
)
from tapeflow.layers.masking import Masking, get_mask, set_mask
from tapeflow.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from tapeflow.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    RMSNormalization,
    UnitNormalization,
)
from tapeflow.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalAvgPool3D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPool3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from tapeflow.layers.preprocessing import Normalization
from tapeflow.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed
from tapeflow.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    GaussianDropout,
    GaussianNoise,
)
from tapeflow.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from tapeflow.layers.rnn_cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from tapeflow.layers.spatial_dropout import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from tapeflow.layers.text_vectorization import TextVectorization

# Keras's longer names
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

__all__ = [
    "Layer", "serialize", "deserialize", "register_serializable", "get_registered", "custom_objects_in_scope",
    "clear_session", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Embedding", "Input", "InputLayer", "SymbolicTensor", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "add", "concatenate", "BatchNormalization", "LayerNormalization", "Conv1D",
    "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv2D",
    "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "MaxPool1D", "MaxPool2D",
    "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "UpSampling1D",
    "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "SimpleRNN",
    "LSTM", "GRU", "Bidirectional", "TimeDistributed", "Masking", "get_mask", "set_mask", "Attention",
    "MultiHeadAttention", "Normalization", "Identity", "Dot", "AdditiveAttention", "EinsumDense",
    "GroupNormalization", "UnitNormalization", "GaussianNoise", "GaussianDropout", "ActivityRegularization",
    "DepthwiseConv1D", "SeparableConv1D", "Rescaling", "Resizing", "CenterCrop", "RandomFlip",
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop",
    "CategoryEncoding", "Discretization", "Hashing", "IntegerLookup", "StringLookup", "TextVectorization",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Lambda", "OpLayer", "subtract", "multiply", "average",
    "maximum", "minimum", "dot",
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "ConvLSTM1D", "ConvLSTM2D",
    "ConvLSTM3D", "AlphaDropout", "RMSNormalization", "Convolution1D", "Convolution2D", "Convolution3D",
    "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D",
    "SeparableConvolution2D",
]
