# The web client: a static export (client/out), built with Node and served by the hub at `/`.
FROM node:24-slim AS client
WORKDIR /client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

# Debian 13 (trixie): its postgresql-client (17) is at least the compose stack's server (16), as
# `gamif backup`'s pg_dump must be.
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
COPY --from=client /client/out /app/client/out
# gamif only, for serving: not the load-testing kit (its `load` extra), which `gamif load` then names.
# PostgreSQL's client programs: `gamif backup` and `gamif restore` run pg_dump and pg_restore.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 gamif \
    && mkdir /data && chown gamif /data

ENV GAMIF_DATA_DIR=/data GAMIF_HOST=0.0.0.0 GAMIF_CLIENT_DIR=/app/client/out
VOLUME /data
USER gamif
EXPOSE 8000
CMD ["gamif", "run"]
