# syntax=docker/dockerfile:1
# ShopPulse: one image for the worker, the collector and the simulator (see docs/deploy.md).
#   docker build -t shoppulse .
#   docker run --rm shoppulse --help

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/shoppulse
ENV PATH=/opt/shoppulse/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is rebuilt when the
# dependencies change, not on every code change.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the package itself, a regular (non-editable) install. pip is not needed at run time.
COPY README.md ./
COPY shoppulse ./shoppulse
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
    && pip uninstall --yes --quiet pip \
    && shoppulse --help > /dev/null


FROM python:3.11-slim
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/shoppulse --create-home shoppulse
COPY --from=build /opt/shoppulse /opt/shoppulse
ENV PATH=/opt/shoppulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The worker keeps its local state (Faust's data directory) under the working directory.
WORKDIR /var/lib/shoppulse
USER shoppulse
# 8080: collector HTTP (POST /v1/events, /healthz, /metrics); 9108: worker /metrics.
EXPOSE 8080 9108
ENTRYPOINT ["shoppulse"]
CMD ["--help"]
