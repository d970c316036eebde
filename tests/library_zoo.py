"""Models of third-party libraries, as a user builds them (no weights): timm, ultralytics,
segmentation_models_pytorch, MONAI and torchaudio, for tests/test_library_zoo.py and
benchmarks/zoo.py.

None of the libraries is a dependency of convprof: a model whose library cannot be imported says
why (`missing`), and its test is skipped with that reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["EXACT", "LIBRARIES", "ZOO", "ZooModel", "build", "missing"]

#: The import name of each library.
LIBRARIES = {
    "timm": "timm",
    "ultralytics": "ultralytics",
    "smp": "segmentation_models_pytorch",
    "monai": "monai",
    "torchaudio": "torchaudio",
}


@dataclass(frozen=True, slots=True)
class ZooModel:
    """One model of a library, and the input it is imported at."""

    name: str
    """How the table names it: the library's own name for it."""
    library: str
    """A key of LIBRARIES."""
    family: str
    """The family it stands for (timm's module, a library's class)."""
    make: Callable[[], Any]
    """Builds it without weights (imports its library)."""
    inputs: tuple[tuple[int, ...], ...]
    """One sample's shape per tensor its forward takes."""


def _timm(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import timm

        return timm.create_model(name, pretrained=False)

    return make


def _yolo(config: str, classifier: bool = False) -> Callable[[], Any]:
    def make() -> Any:
        from ultralytics.nn.tasks import ClassificationModel, DetectionModel

        return (ClassificationModel if classifier else DetectionModel)(config, verbose=False)

    return make


def _smp(cls: str) -> Callable[[], Any]:
    def make() -> Any:
        import segmentation_models_pytorch as smp

        return getattr(smp, cls)(encoder_weights=None)

    return make


def _monai(cls: str, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from monai.networks import nets

        return getattr(nets, cls)(spatial_dims=3, **kwargs)

    return make


def _torchaudio(name: str, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from torchaudio import models

        return getattr(models, name)(**kwargs)

    return make


_IMAGE = (3, 224, 224)
#: One small model per timm CNN family (its module), at the input timm's config gives it.
_TIMM = (
    ("resnet18", "resnet", _IMAGE),
    ("resnetv2_50x1_bit", "resnetv2", _IMAGE),
    ("regnety_002", "regnet", _IMAGE),
    ("efficientnet_b0", "efficientnet", _IMAGE),
    ("mobilenetv3_small_100", "mobilenetv3", _IMAGE),
    ("lcnet_050", "mobilenetv3 (lcnet)", _IMAGE),
    ("convnext_atto", "convnext", _IMAGE),
    ("densenet121", "densenet", _IMAGE),
    ("dla34", "dla", _IMAGE),
    ("dpn48b", "dpn", _IMAGE),
    ("cspresnet50", "cspnet", _IMAGE),
    ("cspnext_tiny", "cspnext", _IMAGE),
    ("ghostnet_100", "ghostnet", _IMAGE),
    ("hardcorenas_a", "hardcorenas", _IMAGE),
    ("hgnetv2_b0", "hgnet", _IMAGE),
    ("hrnet_w18_small", "hrnet", _IMAGE),
    ("inception_next_atto", "inception_next", _IMAGE),
    ("inception_resnet_v2", "inception_resnet_v2", (3, 299, 299)),
    ("inception_v3", "inception_v3", (3, 299, 299)),
    ("inception_v4", "inception_v4", (3, 299, 299)),
    ("mambaout_femto", "mambaout", _IMAGE),
    ("nasnetalarge", "nasnet", (3, 331, 331)),
    ("pnasnet5large", "pnasnet", (3, 331, 331)),
    ("nf_resnet26", "nfnet", _IMAGE),
    ("rdnet_tiny", "rdnet", _IMAGE),
    ("repghostnet_050", "repghost", _IMAGE),
    ("repvit_m1", "repvit", _IMAGE),
    ("res2net50_26w_4s", "res2net", _IMAGE),
    ("resnest14d", "resnest", _IMAGE),
    ("rexnet_100", "rexnet", _IMAGE),
    ("selecsls42b", "selecsls", _IMAGE),
    ("legacy_seresnet18", "senet", _IMAGE),
    ("skresnet18", "sknet", _IMAGE),
    ("starnet_s050", "starnet", _IMAGE),
    ("tresnet_m", "tresnet", _IMAGE),
    ("vgg11_bn", "vgg", _IMAGE),
    ("ese_vovnet19b_dw", "vovnet", _IMAGE),
    ("legacy_xception", "xception", (3, 299, 299)),
    ("xception41p", "xception_aligned", (3, 299, 299)),
    ("repvgg_a0", "byobnet (repvgg)", _IMAGE),
    ("mobileone_s0", "byobnet (mobileone)", _IMAGE),
    ("fasternet_t0", "fasternet", _IMAGE),
    ("convmixer_768_32", "convmixer", _IMAGE),
    ("efficientvit_b0", "efficientvit_mit", _IMAGE),
    ("mobilevit_xxs", "mobilevit", (3, 256, 256)),
    ("fastvit_t8", "fastvit", (3, 256, 256)),
    ("edgenext_xx_small", "edgenext", (3, 256, 256)),
)

#: Every model of the zoo, in the order the table lists them.
ZOO: tuple[ZooModel, ...] = (
    *(ZooModel(name, "timm", family, _timm(name), (shape,)) for name, family, shape in _TIMM),
    ZooModel("yolov8n", "ultralytics", "DetectionModel", _yolo("yolov8n.yaml"), ((3, 640, 640),)),
    ZooModel("yolov8s", "ultralytics", "DetectionModel", _yolo("yolov8s.yaml"), ((3, 640, 640),)),
    ZooModel("yolo11n", "ultralytics", "DetectionModel", _yolo("yolo11n.yaml"), ((3, 640, 640),)),
    ZooModel("yolov8n-cls", "ultralytics", "ClassificationModel", _yolo("yolov8n-cls.yaml", True), (_IMAGE,)),
    ZooModel("Unet", "smp", "Unet", _smp("Unet"), ((3, 256, 256),)),
    ZooModel("FPN", "smp", "FPN", _smp("FPN"), ((3, 256, 256),)),
    ZooModel("DeepLabV3Plus", "smp", "DeepLabV3Plus", _smp("DeepLabV3Plus"), ((3, 256, 256),)),
    ZooModel(
        "UNet 3-D",
        "monai",
        "UNet",
        _monai("UNet", in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2)),
        ((1, 96, 96, 96),),
    ),
    ZooModel(
        "BasicUNet",
        "monai",
        "BasicUNet",
        _monai("BasicUNet", in_channels=1, out_channels=2),
        ((1, 96, 96, 96),),
    ),
    ZooModel(
        "SegResNet",
        "monai",
        "SegResNet",
        _monai("SegResNet", in_channels=1, out_channels=2),
        ((1, 96, 96, 96),),
    ),
    ZooModel(
        "DenseNet121 3-D",
        "monai",
        "DenseNet121",
        _monai("DenseNet121", in_channels=1, out_channels=2),
        ((1, 96, 96, 96),),
    ),
    ZooModel("wav2letter", "torchaudio", "Wav2Letter", _torchaudio("Wav2Letter"), ((1, 16000),)),
    ZooModel("ConvTasNet", "torchaudio", "ConvTasNet", _torchaudio("ConvTasNet"), ((1, 16000),)),
)

#: The models that import exactly with no flag: parameters, FLOPs and output shapes equal torch's.
#: tests/test_library_zoo.py keeps them exact (others may become exact as kinds are added).
EXACT = frozenset(
    {
        "resnet18",
        "resnetv2_50x1_bit",
        "regnety_002",
        "efficientnet_b0",
        "mobilenetv3_small_100",
        "lcnet_050",
        "convnext_atto",
        "densenet121",
        "dla34",
        "dpn48b",
        "cspresnet50",
        "cspnext_tiny",
        "ghostnet_100",
        "hardcorenas_a",
        "hgnetv2_b0",
        "hrnet_w18_small",
        "inception_next_atto",
        "inception_resnet_v2",
        "inception_v3",
        "inception_v4",
        "mambaout_femto",
        "nasnetalarge",
        "pnasnet5large",
        "nf_resnet26",
        "rdnet_tiny",
        "repghostnet_050",
        "repvit_m1",
        "res2net50_26w_4s",
        "resnest14d",
        "rexnet_100",
        "selecsls42b",
        "legacy_seresnet18",
        "skresnet18",
        "starnet_s050",
        "tresnet_m",
        "vgg11_bn",
        "ese_vovnet19b_dw",
        "legacy_xception",
        "xception41p",
        "repvgg_a0",
        "mobileone_s0",
        "fasternet_t0",
        "convmixer_768_32",
        "efficientvit_b0",
        "fastvit_t8",
        "yolov8n",
        "yolov8s",
        "yolo11n",
        "yolov8n-cls",
        "Unet",
        "FPN",
        "DeepLabV3Plus",
        "UNet 3-D",
        "BasicUNet",
        "SegResNet",
        "DenseNet121 3-D",
        "wav2letter",
    }
)


def missing(model: ZooModel) -> str | None:
    """Return why `model`'s library cannot be used here, or None when it can."""
    name = LIBRARIES[model.library]
    try:
        importlib.import_module(name)
    except Exception as exc:  # an installed library may fail to import against this torch
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"{name} is not importable here ({type(exc).__name__}: {first})"
    return None


def build(model: ZooModel) -> Any:
    """Build `model` as convprof's model references do: on the meta device where its builder runs
    there (it then costs nothing), else on the CPU."""
    import torch

    from convprof.importing.quiet import quiet

    try:
        with quiet(), torch.device("meta"):
            return model.make().eval()
    except Exception:
        with quiet():
            return model.make().eval()


def reference(model: Any, inputs: tuple[tuple[int, ...], ...]) -> tuple[int, list[tuple[int, ...]]]:
    """Return torch's own forward FLOPs (FlopCounterMode) of one sample and the shape of each tensor
    the model returns, in order: on the meta device when the model's weights are there, else on the
    CPU with zeros (a builder that cannot run on meta)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from convprof.importing.quiet import quiet
    from convprof.importing.running import tensors_in

    tensors = [*model.parameters(), *model.buffers()]
    device = "meta" if tensors and all(t.device.type == "meta" for t in tensors) else "cpu"
    with quiet(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(*(torch.zeros((1, *shape), device=device) for shape in inputs))
    return counter.get_total_flops(), [tuple(t.shape[1:]) for t in tensors_in(out)]
