"""`run` and `pretrain` import Fabric without the whole `lightning` package and without torchmetrics
(issue 15 item 5), and a later `import torchmetrics` still gets the real package."""

from __future__ import annotations

import subprocess
import sys


def test_fabric_imports_without_lightning_or_torchmetrics_and_torchmetrics_stays_real():
    probe = ("import sys\nfrom echobench.engine.fabric import Fabric, seed_everything\n"
             "fabric = Fabric(accelerator='cpu', devices=1)\nseed_everything(3)\n"
             "print(sorted(m for m in ('lightning', 'torchmetrics', 'scipy', 'transformers', 'matplotlib') if m in sys.modules))\n"
             "import torchmetrics\nprint(hasattr(torchmetrics, 'Metric'), type(fabric).__module__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "[]"
    assert second == "True lightning_fabric.fabric"
