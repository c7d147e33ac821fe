# The web client: a static export (client/out), built with Node and served by the hub at `/`.
FROM node:24-slim AS client
WORKDIR /client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
COPY --from=client /client/out /app/client/out
# gamif only, for serving: not the load-testing kit (its `load` extra), which `gamif load` then names.
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 gamif \
    && mkdir /data && chown gamif /data

ENV GAMIF_DATA_DIR=/data GAMIF_HOST=0.0.0.0 GAMIF_CLIENT_DIR=/app/client/out
VOLUME /data
USER gamif
EXPOSE 8000
CMD ["gamif", "run"]
