#!/usr/bin/env python3
"""Exports a BERT encoder saved by Strata (config.json + model.safetensors) to ONNX.

A plain-PyTorch BERT (no transformers package): embeddings (word + position + token type,
LayerNorm), post-LayerNorm encoder layers with bidirectional attention and an additive padding
mask, erf GELU (the hidden_act of config.json). A pooler in the checkpoint is loaded but is not an
output. The safetensors file is read by hand (8-byte little-endian header length, JSON header,
raw little-endian data).

  /usr/bin/python3 scripts/bench/export_bert_onnx.py MODEL_DIR OUT.onnx [--opset 14]

Graph inputs: input_ids (int64, [batch, seq]), attention_mask (int64, [batch, seq]); output:
last_hidden_state (float32, [batch, seq, hidden]); batch and seq are dynamic axes. Prints one
JSON line describing the file.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    """{name: float32 tensor} from a .safetensors file, without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    buf = bytearray(data[base:])
    del data
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = info["shape"]
        count = math.prod(shape) if shape else 1
        itemsize = torch.empty((), dtype=dtype).element_size()
        if end - begin != count * itemsize or end > len(buf):
            raise ValueError(f"{path}: tensor {name} has inconsistent offsets")
        t = torch.frombuffer(buf, dtype=dtype, count=count, offset=begin).reshape(shape)
        out[name] = t.to(torch.float32).clone() if dtype.is_floating_point else t.clone()
    return out


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, f = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.d = h // self.heads
        self.h = h
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.inter = nn.Linear(h, f)
        self.out = nn.Linear(f, h)
        self.out_norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        act = c.get("hidden_act", "gelu")
        if act not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu"):
            raise ValueError(f"unsupported hidden_act {act}")
        self.act = {"gelu": lambda x: nn.functional.gelu(x), "relu": torch.relu, "silu": nn.functional.silu}.get(
            act, lambda x: nn.functional.gelu(x, approximate="tanh")
        )

    def forward(self, x, mask):
        b, t = x.shape[0], x.shape[1]
        h, d = self.h, self.d

        def split(p):
            return p(x).view(b, t, self.heads, d).transpose(1, 2)  # (B, H, T, D)

        q, k, v = split(self.query), split(self.key), split(self.value)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + mask  # (B, H, T, T)
        y = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, h)
        a = self.attn_norm(self.attn_out(y) + x)
        return self.out_norm(self.out(self.act(self.inter(a))) + a)


class Bert(nn.Module):
    def __init__(self, c, pooler):
        super().__init__()
        h = c["hidden_size"]
        self.word = nn.Embedding(c["vocab_size"], h)
        self.pos = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type = nn.Embedding(c.get("type_vocab_size", 2), h)
        self.norm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.pooler = nn.Linear(h, h) if pooler else None

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        pos = torch.arange(t, dtype=torch.int64, device=input_ids.device).unsqueeze(0)
        x = self.norm(self.word(input_ids) + self.pos(pos) + self.token_type(torch.zeros_like(input_ids)))
        # padding keys get the most negative float32 added, as Hugging Face does
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, mask)
        return x


def load(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        c = json.load(f)
    if c.get("model_type") not in ("bert", None):
        raise ValueError(f"{model_dir}: model_type {c.get('model_type')} is not bert")
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in w) else ""
    model = Bert(c, pooler=f"{prefix}pooler.dense.weight" in w).eval()
    names = {
        "word.weight": "embeddings.word_embeddings.weight",
        "pos.weight": "embeddings.position_embeddings.weight",
        "token_type.weight": "embeddings.token_type_embeddings.weight",
        "norm.weight": "embeddings.LayerNorm.weight",
        "norm.bias": "embeddings.LayerNorm.bias",
        "pooler.weight": "pooler.dense.weight",
        "pooler.bias": "pooler.dense.bias",
    }
    per_layer = {
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attn_out": "attention.output.dense",
        "attn_norm": "attention.output.LayerNorm",
        "inter": "intermediate.dense",
        "out": "output.dense",
        "out_norm": "output.LayerNorm",
    }
    for i in range(c["num_hidden_layers"]):
        for ours, theirs in per_layer.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    state = {}
    for ours, theirs in names.items():
        key = prefix + theirs
        if key in w:
            state[ours] = w.pop(key)
    model.load_state_dict(state, strict=True)
    return model, c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=14)
    args = ap.parse_args()
    torch.manual_seed(0)
    model, c = load(args.model_dir)
    ids = torch.randint(0, c["vocab_size"], (2, 16), dtype=torch.int64)
    mask = torch.ones_like(ids)
    tmp = args.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            tmp,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}},
            opset_version=args.opset,
            do_constant_folding=True,
        )
    os.replace(tmp, args.out)
    print(json.dumps({"onnx": args.out, "opset": args.opset, "torch": torch.__version__, "bytes": os.path.getsize(args.out)}))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
        print(f"export_bert_onnx: {e}", file=sys.stderr)
        sys.exit(1)
