#!/bin/sh
# Mint a token on the server through the REST API, with an API key (<key_id>.<secret>, from the console).
HUBBUB_URL=${HUBBUB_URL:-http://127.0.0.1:8080}

curl -X POST "$HUBBUB_URL/api/v1/projects/$HUBBUB_APP_ID/tokens" \
  -H "Authorization: Bearer $HUBBUB_KEY_ID.$HUBBUB_KEY_SECRET" \
  -H "Content-Type: application/json" \
  -d '{"user_id": "alice", "channel": "room1", "role": "host", "expire": 3600,
       "privileges": {"join_channel": 3600, "subscribe": 3600, "publish_audio": 600}}'
