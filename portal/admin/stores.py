"""Admins keep the list of stores hires join after training: name, district, address and how many places each
has for new hires (HR give each hire a store on their page; services.stores keeps the places)."""

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin.blueprint import bp
from portal.extensions import db
from portal.models import Store, utcnow
from portal.services.stores import StoreError, places_taken, save_store
from portal.templating import show_page_of
from portal.web import page_arg

PER_PAGE = 50
FILTER_MAX = 60  # what the filter box takes: a district, or part of a name

ORDER = (Store.district, Store.name, Store.id)


def _filter_text() -> str:
    return " ".join(request.args.get("q", "").split())[:FILTER_MAX]


def _page(status: int = 200, error: StoreError | None = None, typed=None, editing: Store | None = None):
    show_page_of("admin.stores")  # after a refused POST, the pager and language switch lead to the list
    text = _filter_text()
    query = sa.select(Store).order_by(*ORDER)
    if text:
        query = query.where(
            sa.or_(Store.district.icontains(text, autoescape=True), Store.name.icontains(text, autoescape=True))
        )
    pagination = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/stores.html",
        pagination=pagination,
        taken=places_taken(store.id for store in pagination.items),
        q=text,
        error=str(error) if error else None,
        error_field=error.field if error else None,
        typed=typed,
        editing=editing,
    ), status


@bp.get("/stores")
def stores():
    """Every store by district and name, or those whose district or name holds the filter's text."""
    editing_id = request.args.get("edit", type=int)
    editing = db.session.get(Store, editing_id) if editing_id else None
    return _page(editing=editing)


@bp.post("/stores")
def add_store():
    return _save(None)


@bp.post("/stores/<int:store_id>")
def edit_store(store_id: int):
    return _save(db.get_or_404(Store, store_id))


def _save(store: Store | None):
    try:
        store = save_store(store, request.form, actor_id=current_user.id, now=utcnow())
    except StoreError as refusal:
        db.session.rollback()
        return _page(422, error=refusal, typed=request.form, editing=store)
    db.session.commit()
    return redirect(url_for("admin.stores", page=_page_of(store), _anchor=f"store-{store.id}"), 303)


def _page_of(store: Store) -> int | None:
    """The list's page the store is on (None: the first)."""
    before = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Store)
        .where(sa.tuple_(*ORDER) < sa.tuple_(store.district, store.name, store.id))
    )
    page = (before or 0) // PER_PAGE + 1
    return page if page > 1 else None
