#!/bin/sh
# The namespace and the six search attributes ops filter quotes by (contracts/search_attributes.py; docs/operations.md). Idempotent.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$ns" --retention 30d
for attribute in QuoteState:Keyword CustomerCsn:Keyword QuoteCurrency:Keyword QuoteOrigin:Keyword \
                 QuoteExpiresAt:Datetime QuoteTotal:Double; do
  name="${attribute%%:*}"; type="${attribute##*:}"
  temporal operator search-attribute list --namespace "$ns" | grep -qw "$name" \
    || temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
done
echo "namespace $ns ready with its search attributes"
