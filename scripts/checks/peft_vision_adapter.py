"""Cross-checks a vision LoRA run of `strata finetune --task image-classification --method lora`
against PEFT: the run's RUN/adapter/ put on the base checkpoint by PeftModel.from_pretrained must
give the logits of the merged classifier Strata saved in RUN/, which transformers loads as it is.
Writes no fixture; prints the largest difference and exits 1 past the tolerance.

Checked with torch 2.13, transformers 5.18, peft 0.21: a CLIP tower (zoo/clip-scenes, LoRA r=8 on
q/k/v/out_proj, 20 steps) agrees to 2.4e-7. A ViT adapter does not load there, through no fault of
its file: transformers 5 renames ViT's modules when it builds the model (the checkpoint's
vit.encoder.layer.N.attention.attention.query becomes vit.layers.N.attention.q_proj), and PEFT 0.21
converts adapter target names and keys only for the models transformers lists a checkpoint
conversion for (MoE models; not ViT), so every adapter written in the checkpoint's names, which is
what PEFT under transformers 4 wrote for ViT, fails with NoMatchingPeftModuleError.

  /tmp/peftvenv/bin/python scripts/checks/peft_vision_adapter.py RUN [--tolerance 1e-4]
"""

import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForImageClassification, CLIPForImageClassification, ViTForImageClassification


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    adapter_dir = os.path.join(args.run, "adapter")
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        base_path = json.load(f)["base_model_name_or_path"]
    with open(os.path.join(args.run, "config.json")) as f:
        run_config = json.load(f)
    merged = AutoModelForImageClassification.from_pretrained(args.run).eval()
    cls = CLIPForImageClassification if run_config["model_type"] == "clip" else ViTForImageClassification
    # the base checkpoint (a CLIPModel / ViTModel, or a classifier) under a head of the run's labels
    base = cls.from_pretrained(base_path, num_labels=len(run_config["id2label"]), id2label=run_config["id2label"], label2id=run_config["label2id"], ignore_mismatched_sizes=True)
    adapted = PeftModel.from_pretrained(base, adapter_dir).eval()
    size = merged.config.vision_config.image_size if run_config["model_type"] == "clip" else merged.config.image_size
    pixels = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = merged(pixel_values=pixels).logits
        got = adapted(pixel_values=pixels).logits
    diff = (want - got).abs().max().item()
    print(f"{cls.__name__} from {base_path} + PEFT adapter vs Strata's merged classifier: max |diff| {diff:.3g} (logits scale {want.abs().max().item():.3g})")
    return 0 if diff <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
