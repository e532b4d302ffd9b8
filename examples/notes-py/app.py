"""The notes-py module: a Mosaic module written in Python against the same WIT
contract as the Rust ones (wit/0.2.0), built into a component by componentize-py.

GET /      a page of notes and the module's version
POST /     {"text": "..."} stores a note
GET /{id}  one note
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import guest
from wit_world.imports import store, types

KEY = "notes-py"
VERSION = "0.1.0"
NOTES = "notes"


def respond(status, body):
    return types.Response(
        status=status,
        headers=[types.Header(name="content-type", value="application/json")],
        body=json.dumps(body).encode(),
    )


def error(status, code, message, fields=None):
    body = {"error": message, "code": code}
    if fields:
        body["fields"] = fields
    return respond(status, body)


def document(doc):
    data = json.loads(doc.data)
    data.update(id=doc.id, version=doc.version, created_at=doc.created_at, updated_at=doc.updated_at)
    return data


def list_notes(req):
    page = store.query(
        store.Selection(
            collection=NOTES, filters=[], order_by=None, descending=False, limit=20, cursor=None
        )
    )
    return respond(
        200,
        {
            "module": KEY,
            "version": VERSION,
            "language": "python",
            "items": [document(d) for d in page.items],
            "next_cursor": page.next_cursor,
        },
    )


def create_note(req):
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        return error(400, "bad_request", "The body is not JSON")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        return error(422, "validation_failed", "Validation failed", {"text": "must be text of 1 to 1000 characters"})
    doc = store.insert(NOTES, None, json.dumps({"text": text}))
    return respond(201, document(doc))


def show_note(req):
    note_id = next((p.value for p in req.params if p.name == "id"), "")
    doc = store.get(NOTES, note_id)
    if doc is None:
        return error(404, "not_found", "Note not found")
    return respond(200, document(doc))


ROUTES = {
    ("GET", "/"): list_notes,
    ("POST", "/"): create_note,
    ("GET", "/{id}"): show_note,
}


class Guest(exports.Guest):
    def describe(self):
        return guest.Manifest(
            key=KEY,
            name="Notes (Python)",
            version=VERSION,
            description="Notes, from a module written in Python",
            icon="notebook",
            core=False,
            sort_order=200,
            routes=[guest.Route(method=method, path=path, min_role=None) for method, path in ROUTES],
            dependencies=[],
            subscriptions=[],
            indexes=[],
            capabilities=[],
            schedules=[],
        )

    def handle(self, req):
        handler = ROUTES.get((req.method, req.route))
        if handler is None:
            return error(404, "not_found", "No such route")
        try:
            return handler(req)
        except Err as err:
            # A host call refused (a store error): answer it, do not trap.
            return error(500, "internal", "Internal error: " + type(err.value).__name__)

    def on_event(self, ev):
        pass

    def on_schedule(self, schedule, fired_at):
        pass
