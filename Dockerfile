# One image for the worker, the buyer web app and the command line:
#   docker run IMAGE worker | web | migrate | load FILE | quote ...
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/renewals
COPY pyproject.toml README.md ./
COPY domain domain
COPY contracts contracts
COPY workflows workflows
COPY activities activities
COPY payments payments
COPY store store
COPY services services
COPY runtime runtime
COPY workers workers
COPY starters starters
COPY web web
RUN /opt/renewals/bin/pip install --no-cache-dir .

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
