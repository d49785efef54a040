"""The first hour of a PyTorch user: each line one of the names people reach for, with PyTorch's
meaning (the values are checked in tests/test_torch_names*.py; here: every one of them runs)."""

import os
import tempfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

x = Tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
items = {
 "ones": "mg.ones(2, 3)", "randn": "mg.randn(2, 3)", "rand": "mg.rand(2, 3)",
 "zeros_like": "mg.zeros_like(x)", "ones_like": "mg.ones_like(x)", "full": "mg.full((2, 2), 7.0)",
 "eye": "mg.eye(3)", "cat": "mg.cat([x, x], dim=0)", "where": "mg.where(x.array > 0, x, x * 2)",
 "zeros((2, 3))": "mg.zeros((2, 3))",
 "no_grad": "exec('with mg.no_grad():\\n    pass')", "no_grad decorator": "mg.no_grad()(lambda: 1)()",
 "NoGrad decorator": "mg.NoGrad()(lambda: 1)()", "enable_grad": "exec('with mg.enable_grad():\\n    pass')",
 "set_grad_enabled": "exec('with mg.set_grad_enabled(False):\\n    pass')",
 "backward(gradient=)": "(x * 1).backward(gradient=np.ones((2, 3)))",
 "backward(retain_graph=True)": "(lambda y: (y.backward(retain_graph=True), y.backward()))((x * x).sum())",
 "requires_grad_()": "Tensor([1.0]).requires_grad_()",
 "size()": "x.size()", "size(0)": "x.size(0)", "numel()": "x.numel()", "view": "x.view(3, 2)",
 "flatten": "x.flatten()", "squeeze": "x[None].squeeze(0)", "unsqueeze": "x.unsqueeze(0)",
 "transpose(0, 1)": "x.transpose(0, 1)", "t()": "x.t()", "max": "x.max()", "max(dim)": "x.max(dim=1).indices",
 "min(dim)": "x.min(dim=0).values", "abs": "x.abs()", "clamp": "x.clamp(-1, 1)", "sigmoid": "x.sigmoid()",
 "float()": "x.long().float()", "long()": "x.long()", "to(dtype)": "x.to(np.float64)", "tolist()": "x.tolist()",
 "float(t)": "float(x.sum())", "int(t)": "int(x.sum())", "f-string format": "f'{x.sum():.3f}'",
 "Sequential": "mg.Sequential(mg.Linear(3, 2), mg.ReLU())", "Tanh": "mg.Tanh()(x)", "Sigmoid": "mg.Sigmoid()(x)",
 "Dropout train/eval": "(lambda d: (d.train(), d(x), d.eval(), d(x)))(mg.Dropout(0.5))",
 "CrossEntropyLoss": "mg.CrossEntropyLoss()(x, Tensor(np.array([0, 1])))",
 "MSELoss": "mg.MSELoss()(x, Tensor(np.zeros((2, 3))))",
 "functional": "__import__('minigrad.functional', fromlist=['relu']).relu(x)",
 "state_dict/load_state_dict": "(lambda m: m.load_state_dict(m.state_dict()))(mg.Linear(3, 2))",
 "children()": "list(mg.MLP().children())", "apply": "mg.MLP().apply(lambda m: None)",
 "modules() (PyTorch's meaning)": "len(list(mg.MLP().modules())) == 6 or (_ for _ in ()).throw(AssertionError)",
 "SGD momentum/weight_decay": "mg.SGD(mg.Linear(3, 2).parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)",
 "Adam": "mg.Adam(mg.Linear(3, 2).parameters())", "AdamW": "mg.AdamW(mg.Linear(3, 2).parameters())",
 "param_groups": "mg.SGD(mg.Linear(3, 2).parameters(), lr=0.1).param_groups",
 "zero_grad(set_to_none=)": "mg.SGD(mg.Linear(3, 2).parameters(), lr=0.1).zero_grad(set_to_none=False)",
 "lr scheduler": "mg.StepLR(mg.SGD(mg.Linear(3, 2).parameters(), lr=0.1), step_size=1)",
 "SGD with frozen parameters": "(lambda m: (setattr(m.bias, 'requires_grad', False), mg.SGD(m.parameters(), lr=0.1)))(mg.Linear(3, 2))",
 "Dataset/TensorDataset": "mg.TensorDataset(Tensor(np.ones((4, 2))), Tensor(np.arange(4)))",
 "DataLoader over a dataset": "list(mg.DataLoader(mg.TensorDataset(Tensor(np.ones((4, 2))), Tensor(np.arange(4))), batch_size=2))",
 "save/load": "(lambda p: (mg.save(mg.Linear(3, 2).state_dict(), p), mg.load(p)))(os.path.join(tempfile.mkdtemp(), 's.npz'))",
 "__version__": "mg.__version__",
 "star import keeps builtins": "(lambda ns: (exec('from minigrad import *', ns), ns.get('sum') is None or (_ for _ in ()).throw(AssertionError)))({})",
}


@pytest.mark.parametrize("name", list(items))
def test_the_first_hour_list_runs(name):
    eval(items[name])
