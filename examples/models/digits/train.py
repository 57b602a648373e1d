#!/usr/bin/python3
"""Trains the `digits` demo model and exports it to ONNX.

The data set is the 8x8 handwritten digits that ship with scikit-learn
(sklearn.datasets.load_digits, 1,797 images, no download). The model is a
small MLP, 64 -> 64 -> 10, exported with a dynamic batch axis and two outputs:

  probabilities  FP32 [N, 10]  softmax over the ten classes
  label          INT64 [N]     the most likely digit

Input `image` is FP32 [N, 64]: the 8x8 image row by row, pixel values 0..16
as load_digits gives them (the model scales them itself).

Run with Debian's interpreter (needs python3-torch, python3-sklearn, python3-onnx):

  /usr/bin/python3 examples/models/digits/train.py

It rewrites 1/model.onnx and examples/requests/digits.json. Training is
seeded, so the output is reproducible on the same library versions.
"""
import json
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


class DigitsClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 64)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, image):
        x = image / 16.0
        logits = self.out(torch.relu(self.hidden(x)))
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    model = DigitsClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(300):
        optimizer.zero_grad()
        logits = model.out(torch.relu(model.hidden(xt / 16.0)))
        loss = loss_fn(logits, yt)
        loss.backward()
        optimizer.step()

    model.eval()
    with torch.no_grad():
        _, predicted = model(torch.from_numpy(x_test))
    accuracy = float((predicted.numpy() == y_test).mean())
    print(f"test accuracy: {accuracy:.4f} on {len(y_test)} held-out images")
    if accuracy < 0.9:
        sys.exit("accuracy too low; not exporting")

    path = os.path.join(HERE, "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 64), path, opset_version=17,
                      input_names=["image"], output_names=["probabilities", "label"],
                      dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")

    # A request for the first test image (a known, correctly classified one).
    index = int(np.nonzero(predicted.numpy() == y_test)[0][0])
    request = {
        "id": "digits-example",
        "inputs": [{"name": "image", "shape": [1, 64], "datatype": "FP32",
                    "data": [int(v) for v in x_test[index]]}],
        "outputs": [{"name": "label"}, {"name": "probabilities"}],
    }
    request_path = os.path.join(ROOT, "examples", "requests", "digits.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
        f.write("\n")
    print(f"wrote {request_path} (an image of a {int(y_test[index])})")


if __name__ == "__main__":
    main()
