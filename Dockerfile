# One image for every process of the fleet (compose.yaml): web, worker and scheduler differ
# only by `koxbot run --role ...`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A small font with CJK glyphs: the digest chart's labels are Chinese only when one is
# installed (bot/services/digest_chart.py), otherwise they fall back to English.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 koxbot

WORKDIR /app

# The project is installed EDITABLE from /app, not as a wheel: content_templates/ is not
# packaged, and bot/core/render.py (like bot/domain/vocabulary.py) finds it next to the `bot`
# package (Path(__file__).parents[2]). A wheel would put `bot` in site-packages, away from it.
#
# Dependencies first, in a layer of their own (reused until pyproject.toml or the lock
# changes): installed against empty stand-ins for the two packages, which the source
# replaces below.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir bot storage && touch bot/__init__.py storage/__init__.py \
    && pip install -c requirements.lock -e . \
    && rm -rf bot storage *.egg-info

COPY . .
# --no-deps: the dependencies are in place; this only records the real packages (and the
# `koxbot` entry point). Compiled now, as /app stays read-only to the user that runs it.
RUN pip install --no-deps -c requirements.lock -e . \
    && python -m compileall -q bot storage \
    && mkdir -p data && chown koxbot:koxbot data

USER koxbot
# matplotlib's font cache, built once here rather than at each container's first digest.
RUN python -c "import matplotlib.font_manager"

# 9100: /healthz and /metrics (HTTP_LISTEN); 8443: Telegram's webhook on the web role.
EXPOSE 9100 8443
ENTRYPOINT ["koxbot"]
CMD ["run"]
