"""Classic architectures, built from nnkit layers with freshly initialised weights.

=================  ======================  ==============  ======================
model              input                   parameters      trainable
=================  ======================  ==============  ======================
``lenet5()``       28x28x1, 10 classes     61,706          61,706
``vgg16()``        224x224x3, 1000         138,357,544     138,357,544
``resnet20()``     32x32x3, 10             274,042         272,474
``resnet18()``     224x224x3, 1000         11,699,112      11,689,512
``resnet50()``     224x224x3, 1000         25,636,712      25,583,592
``mobilenet_v2()`` 224x224x3, 1000         3,538,984       3,504,872
=================  ======================  ==============  ======================

Totals count BatchNormalization's moving statistics, as Keras does; the
trainable column is what PyTorch would call the parameters (torchvision's
resnet18 has 11,689,512).  No pretrained weights are shipped.
"""
from nnkit.models.zoo.lenet import lenet5
from nnkit.models.zoo.mobilenet_v2 import mobilenet_v2
from nnkit.models.zoo.resnet import resnet18, resnet20, resnet50
from nnkit.models.zoo.vgg import vgg16

__all__ = ["lenet5", "vgg16", "resnet20", "resnet18", "resnet50", "mobilenet_v2"]
