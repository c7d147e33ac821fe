FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install . \
    && useradd --create-home --uid 10001 gamif \
    && mkdir /data && chown gamif /data

ENV GAMIF_DATA_DIR=/data GAMIF_HOST=0.0.0.0
VOLUME /data
USER gamif
EXPOSE 8000
CMD ["gamif", "run"]
