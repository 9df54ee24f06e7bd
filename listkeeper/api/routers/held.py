"""Held posts: the moderation queue of a list."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError

from listkeeper.api import access
from listkeeper.api.auth import actor
from listkeeper.api.schemas import ApproveIn, Error, PostOut, RejectIn
from listkeeper.mail import process
from listkeeper.mail.models import Post, PostStatus

router = Router(tags=["held posts"])


def post_out(post: Post) -> dict:
    return {
        "id": post.id,
        "list_id": post.mailing_list_id,
        "sender": post.sender,
        "author": post.author,
        "subject": post.subject,
        "received": post.received,
        "size": post.size,
        "status": post.status,
        "reason": post.reason,
        "decided": post.decided,
        "decided_by": post.decided_by,
    }


def _held(request: HttpRequest, list_id: int, post_id: int) -> Post:
    ml = access.visible_list(request, list_id)
    post = Post.objects.filter(mailing_list=ml, id=post_id).defer("raw").first()
    if post is None:
        raise HttpError(404, f"no post {post_id} on {ml.address}")
    if post.status != PostStatus.HELD:
        raise HttpError(
            409, f"post {post_id} is no longer held: it was {post.status} by {post.decided_by}"
        )
    return Post.objects.get(id=post.id)


@router.get("/lists/{int:list_id}/held", response={200: list[PostOut], 404: Error})
def list_held(request: HttpRequest, list_id: int) -> list[dict]:
    ml = access.visible_list(request, list_id)
    posts = Post.objects.filter(mailing_list=ml, status=PostStatus.HELD).defer("raw")
    return [post_out(p) for p in posts.order_by("received", "id")]


@router.get("/lists/{int:list_id}/held/{int:post_id}", response={200: PostOut, 404: Error})
def get_post(request: HttpRequest, list_id: int, post_id: int) -> dict:
    ml = access.visible_list(request, list_id)
    post = Post.objects.filter(mailing_list=ml, id=post_id).defer("raw").first()
    if post is None:
        raise HttpError(404, f"no post {post_id} on {ml.address}")
    return post_out(post)


@router.post(
    "/lists/{int:list_id}/held/{int:post_id}/approve",
    response={200: PostOut, 404: Error, 409: Error, 422: Error},
    summary="Deliver a held post as if it had been accepted",
)
def approve(
    request: HttpRequest, list_id: int, post_id: int, body: ApproveIn | None = None
) -> dict:
    post = _held(request, list_id, post_id)
    process.approve(post, actor(request), always_allow=bool(body and body.always_allow))
    post.refresh_from_db()
    return post_out(post)


@router.post(
    "/lists/{int:list_id}/held/{int:post_id}/reject",
    response={200: PostOut, 404: Error, 409: Error, 422: Error},
    summary="Refuse a held post; the sender is told, with the reason if given",
)
def reject(request: HttpRequest, list_id: int, post_id: int, body: RejectIn | None = None) -> dict:
    post = _held(request, list_id, post_id)
    process.reject(post, actor(request), reason=body.reason if body else "")
    post.refresh_from_db()
    return post_out(post)


@router.post(
    "/lists/{int:list_id}/held/{int:post_id}/discard",
    response={200: PostOut, 404: Error, 409: Error, 422: Error},
    summary="Drop a held post without telling anyone",
)
def discard(request: HttpRequest, list_id: int, post_id: int) -> dict:
    post = _held(request, list_id, post_id)
    process.discard(post, actor(request))
    post.refresh_from_db()
    return post_out(post)
