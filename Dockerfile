# The container image every step of the Kubeflow pipeline runs in (README: "Kubeflow").
#
#   make image IMAGE=registry.example.com/video-action:1   # docker build -t $(IMAGE) .
#
# The same pinned stack as the local install (requirements/lock.txt as pip
# constraints, requirements/base.txt as the direct dependencies), with
# CUDA-capable TensorFlow for the GPU Trainer (tensorflow[and-cuda] at the
# lock's version: its CUDA/cuDNN wheels are pinned exactly by TensorFlow's own
# metadata), plus this project. The host supplies only the NVIDIA driver (the
# GPU device plugin mounts it); CPU steps run the same image without a GPU.
#
# KubeflowV2DagRunner puts this command in every step's container spec:
#   python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
# so the image needs `python` on the PATH with tfx and our modules (components,
# trainer, pipeline, kubeflow) importable; the last RUN checks exactly that.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /pipeline

# Dependencies first: this layer is reused while only the project's code changes.
# The lock's pip resolves them (the base image's pip changes with its tag), the same pip
# tests/test_dockerfile.py resolves the stack line with, against PyPI, without Docker.
COPY requirements/ requirements/
RUN pip install -c requirements/lock.txt pip
RUN pip install -c requirements/lock.txt -r requirements/base.txt "tensorflow[and-cuda]==2.16.2"

# TensorFlow's pip CUDA libraries live in site-packages/nvidia/*/lib: let the
# dynamic loader find them (and ptxas for XLA), whatever TF's own lookup does.
RUN python -c "import glob, site; print('\n'.join(sorted(glob.glob(site.getsitepackages()[0] + '/nvidia/*/lib'))))" \
        > /etc/ld.so.conf.d/nvidia-pip.conf \
    && ldconfig
ENV PATH="/usr/local/lib/python3.10/site-packages/nvidia/cuda_nvcc/bin:${PATH}"

# The project itself, installed as a package (not editable): the modules the
# compiled pipeline names (trainer.run.run_fn, components.ingest...) import from
# site-packages whatever the working directory.
COPY pyproject.toml ./
COPY components/ components/
COPY trainer/ trainer/
COPY pipeline/ pipeline/
COPY kubeflow_runner/ kubeflow_runner/
COPY video_action/ video_action/
RUN pip install --no-deps . \
    && cd / && python -c "import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor, \
components.ingest.executor, trainer.run, pipeline, kubeflow_runner.cli, video_action"
