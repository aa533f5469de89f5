#!/bin/sh
# `make run`: serve the sample toy-store program on 127.0.0.1:8080 from an
# SQLite file under run/, with an admin key made once and kept in run/admin.key.
set -eu
cd "$(dirname "$0")/.."
mkdir -p run
[ -s run/admin.key ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > run/admin.key
KEY=$(cat run/admin.key)
LISTEN=${KOPILKA_LISTEN:-127.0.0.1:8080}
cat <<MSG

Kopilka on http://$LISTEN with the toy-store program (examples/toy-store.json)
database: run/kopilka.db      admin key: $KEY

Try, in another terminal:
  K=$KEY
  curl -s -H "Authorization: Bearer \$K" -X POST http://$LISTEN/v1/members \\
       -d '{"phone":"+79001234567","consents":{"personal_data":true}}'
  curl -s -H "Authorization: Bearer \$K" -X POST http://$LISTEN/v1/purchases \\
       -d '{"receipt_id":"R-1","member":"1","lines":[{"sku":"lego-123","qty":1,"price":200000}]}'
  curl -s -H "Authorization: Bearer \$K" http://$LISTEN/v1/members/1/balance
More in README.md. Ctrl-C stops the server.

MSG
exec ./kopilka serve --db run/kopilka.db --program examples/toy-store.json \
	--listen "$LISTEN" --admin-key "$KEY"
