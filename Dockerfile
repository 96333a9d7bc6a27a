# One image for the worker, the buyer web app and the command line:
#   docker run IMAGE worker | web | migrate | load FILE | quote ...
# The project goes in as its wheel: what pyproject.toml packages (every package it finds, with the SQL
# migrations, the templates and the stylesheet) is what the image runs, so no package is left behind.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/renewals
COPY . .
RUN /opt/renewals/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/renewals/bin/pip install --no-cache-dir /wheels/renewal_quotes-*.whl

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home renewals
COPY --from=build /opt/renewals /opt/renewals
ENV PATH=/opt/renewals/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WEB_HOST=0.0.0.0
USER renewals
WORKDIR /app
EXPOSE 8000 9464
ENTRYPOINT ["renewals"]
CMD ["worker"]
