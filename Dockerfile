# Mobile Branch (流动党员之家): the bot in a slim image, data on a volume, schema migrated at start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/branchbot.sqlite3

# A CJK font so that charts can show Chinese labels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY bench ./bench
RUN pip install .

RUN useradd --create-home --uid 10001 branchbot \
    && mkdir -p /data && chown branchbot:branchbot /data
USER branchbot
VOLUME ["/data"]
EXPOSE 8443

# `branchbot run` applies pending migrations before it starts (under a lock on PostgreSQL).
CMD ["branchbot", "run"]
