"""Every word readers see that mirrord writes itself (not the article's, not the operator's), per language.

One catalogue per `lang`; the templates get the mirror's as `words`. `en` is the wording mirrord has
always published, kept byte for byte. Labels carry their own separator, as each script writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "zh-Hans", "zh-Hant")


@dataclass(frozen=True)
class Words:
    share: str  # before the page's share link
    qr_alt: str  # the QR code picture's alt text
    original: str  # before the link to the article on its site
    last_change: str  # before the time of the README's last change
    time_format: str  # strftime of that time, always UTC
    all_pages: str  # the link from the README to a channel's full index; {count} is filled in


CATALOGUES = {
    "en": Words(share="Share this page: ", qr_alt="QR code of this page", original="Original: ",
                last_change="Last change: ", time_format="%Y-%m-%d %H:%M UTC", all_pages="All {count} pages"),
    "zh-Hans": Words(share="分享本页：", qr_alt="本页二维码", original="原文：", last_change="最后更新：",
                     time_format="%Y-%m-%d %H:%M（协调世界时）", all_pages="全部 {count} 篇"),
    "zh-Hant": Words(share="分享本頁：", qr_alt="本頁二維碼", original="原文：", last_change="最後更新：",
                     time_format="%Y-%m-%d %H:%M（協調世界時）", all_pages="全部 {count} 篇"),
}


def words(lang: str) -> Words:
    """Return the catalogue of a language the config validated."""
    return CATALOGUES[lang]
