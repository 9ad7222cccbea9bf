# The production image: gunicorn serving config.wsgi, static files by WhiteNoise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    PORT=8000

WORKDIR /app
RUN groupadd --system app && useradd --system --gid app --home-dir /app app

# What WeasyPrint (PDF receipts) loads at run time: Pango, HarfBuzz's subsetter and a font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so a code change does not reinstall them.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY --chown=app:app . .
# collectstatic reads settings, which need a key; this one exists only during the build.
RUN SECRET_KEY=build-only-collectstatic python manage.py collectstatic --noinput --verbosity 0
# /app is the user's home, made by WORKDIR as root (COPY --chown leaves the folder itself as it
# is): fontconfig, under WeasyPrint's PDF receipts, writes its font cache in ~/.cache.
RUN chown app:app /app

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["python", "-m", "config.serve", "config.wsgi", "--config", "config/gunicorn.py", "--bind", "0.0.0.0:8000"]
