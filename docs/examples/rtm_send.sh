#!/bin/sh
# A server-side channel message through the REST API: KEY is an API key (<key_id>.<secret>),
# APP_ID the project's App ID.
HUBBUB_URL=${HUBBUB_URL:-http://127.0.0.1:8080}

curl -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"sender": "bot", "text": "The match starts in 5 minutes"}' \
  $HUBBUB_URL/api/v1/projects/$APP_ID/rtm/channels/lobby/messages
