"""Plain-language requests in English, Simplified and Traditional Chinese -> a command.

Matching is by phrase, after folding case and punctuation; the first route whose
phrase occurs wins, so more specific routes come first.
"""

from __future__ import annotations

import re

__all__ = ["ROUTES", "route_for"]

ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "delete",
        (
            "delete my data",
            "delete my account",
            "erase my data",
            "forget me",
            "remove my data",
            "删除我的资料",
            "删除我的数据",
            "删除我的信息",
            "刪除我的資料",
            "刪除我的個人資料",
            "刪除我嘅資料",
            "删除",
            "刪除",
        ),
    ),
    (
        "correct",
        (
            "correct my",
            "update my",
            "change my email",
            "change my address",
            "change my name",
            "更正我的资料",
            "更正",
            "更改我的资料",
            "更正我的個人資料",
            "更改我的個人資料",
            "修改我的個人資料",
        ),
    ),
    (
        "requests",
        (
            "my requests",
            "request status",
            "我的请求",
            "我的申请",
            "我的要求",
            "查詢申請",
            "我的申請",
        ),
    ),
    (
        "export",
        (
            "export",
            "copy of my data",
            "download my data",
            "导出",
            "导出我的数据",
            "匯出",
            "導出",
            "下載我的資料",
        ),
    ),
    (
        "mydata",
        (
            "查看我的個人資料",
            "查閱我的個人資料",
            "查看我的个人信息",
            "我的个人信息",
            "what do you know about me",
            "what data",
            "my data",
            "what do you have on me",
            "你们有我什么资料",
            "我的资料",
            "我的数据",
            "我的個人資料",
            "你哋有我咩資料",
            "我的資料",
        ),
    ),
    (
        "stop_messages",
        (
            "stop messaging me",
            "stop messages",
            "stop sending",
            "unsubscribe",
            "don't message",
            "do not message",
            "no more messages",
            "别再发",
            "不要再发",
            "不要再给我发",
            "退订",
            "取消订阅",
            "我唔想再收到訊息",
            "唔想再收到",
            "唔好再send",
            "唔好再傳",
            "不要再傳訊息給我",
            "不要再傳",
            "停止傳送訊息",
            "取消訂閱",
        ),
    ),
    (
        "privacy",
        (
            "consent",
            "privacy",
            "隐私",
            "同意",
            "私隱",
            "私隐",
        ),
    ),
    ("survey", ("survey", "questionnaire", "问卷", "調查", "问卷调查", "問卷")),
    ("language", ("language", "english", "语言", "語言", "中文", "繁體", "简体")),
    ("help", ("help", "what can you do", "帮助", "幫助", "幫手", "点用", "點用")),
)

_PUNCTUATION = re.compile(r"[^\w\s']+")


def route_for(text: str) -> str | None:
    folded = " ".join(_PUNCTUATION.sub(" ", text.casefold()).split())
    for command, phrases in ROUTES:
        if any(phrase in folded for phrase in phrases):
            return command
    return None
