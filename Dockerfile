# Mobile Branch (流动党员之家): the bot in a slim image, data on a volume, schema migrated at start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/branchbot.sqlite3 \
    HTTP_LISTEN=0.0.0.0 \
    HTTP_PORT=8080

# No system fonts: the CJK font for the charts' Chinese labels comes with the mplfonts package.
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY bench ./bench
# Exact versions from constraints.txt: rebuilding the image gives the same packages.
RUN pip install -c constraints.txt .

RUN useradd --create-home --uid 10001 branchbot \
    && mkdir -p /data && chown branchbot:branchbot /data
USER branchbot
VOLUME ["/data"]
# The one HTTP host: /healthz, /metrics and, with --webhook, the Telegram webhook.
EXPOSE 8080

# 503 (the outbox stalls outside quiet hours, or the reminder tick stopped) or no answer: unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=4)"]

# `branchbot run` applies pending migrations before it starts (under a lock on PostgreSQL).
CMD ["branchbot", "run"]
