"""The article pages of the test corpus, their addresses, and the rules mirrord extracts them with.

``PAGES`` maps a corpus-relative path to the page's original address. The rules are not written
here: they are the recipes of ``config.example.toml``, read with mirrord's own config loader, and
each page takes those of the source whose ``hosts`` hold its address's host. So the rules users
copy from the example are the rules the corpus tests score, and there is one copy of them.

``RULES`` maps each page to a rule as ``tests/scoring.py`` reads one:

* ``url``: the page's original address;
* ``content``: CSS selector of the article body; when it matches several
  nodes, all of them are taken in document order (a match nested inside
  another match is not taken twice);
* ``lead`` (optional): CSS selector of a lead block (top picture and
  caption, standfirst) put before the body;
* ``remove`` (optional): CSS selectors whose matches are deleted from the
  whole document before ``lead`` and ``content`` are selected. ``script``,
  ``style``, ``noscript`` and ``template`` are always deleted.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from mirrord.config import load_config
from mirrord.model import Rules

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"

PAGES: dict[str, str] = {
    "articles/aeb/04a6711caa7c687592777718866e781e976e0fe684faebe8b3cedcef8cd0ea34.html.gz":
        "https://www.nytimes.com/2019/11/19/opinion/republicans-elections-impeachment.html",
    "articles/aeb/0ec95c7261d122f304728e90c983450ef1ce1e0b423546835c397d50aaf0d0f2.html.gz":
        "http://entermedia.co.kr/news/news_view.html?idx=8576&page=1&bc=03&mc=08&find=&sch_date=",
    "articles/aeb/1ace8c85aaee21b9d4505eca506d50c4721c29db62848b567a9703bfe0583892.html.gz":
        "https://techcrunch.com/2019/11/18/new-york-state-attorney-general-reportedly-investigating-wework/",
    "articles/aeb/1ee91d1fce65e09be8b8d2d29eab771546d98ca2ba5c862941e660e9fec12432.html.gz":
        "https://www.polygraph.info/a/fact-check-russia-us-al-tanf-rukban/30279001.html",
    "articles/aeb/39d5c43beb60605c3eec760c99500e62e7bd71ebbe4ae05edf382125e1b0b80a.html.gz":
        "https://www.deccanherald.com/business/economy-business/beijing-tariff-demands-may-expand-us-china-trade-deal-777916.html",
    "articles/aeb/4a44ab3e4c41d56ce9b79eb07acb06aed1bc52aba68a950f06e7de7ef848400a.html.gz":
        "https://www.rt.com/news/473849-3-morales-supporters-killed-bolivia/",
    "articles/aeb/57d46c9d751e3fd3ffaf3ede7ac20cebd30eacb5ea78e1a6aa0a72059244e7ca.html.gz":
        "https://www.reuters.com/article/us-global-markets/asian-shares-soft-as-trade-doubts-creep-back-in-idUSKBN1XT00W",
    "articles/aeb/5a822960e9a2cb1e664d334b6c936c5cb6e41fb5331877538c2c8339cb59d57e.html.gz":
        "https://www.nbcnews.com/news/world/house-hitler-was-born-will-become-police-station-austria-says-n1086531",
    "articles/aeb/5fa3154ec031ab35411a457d78eb5aa92c0e803c5329bd05c001e6d64009e206.html.gz":
        "https://www.theguardian.com/commentisfree/2019/nov/18/the-guardian-view-on-hong-kong-a-city-on-the-brink",
    "articles/aeb/624fcd903d56fc7055fa7097b330629450c095ad6937318deb027be7803bbf35.html.gz":
        "https://www.express.co.uk/news/world/1206313/hong-kong-latest-china-protesters-police-china-hong-kong-riots-Polytechnic-University",
    "articles/aeb/702d1da63b8e064cb70617620e45c2d116b4912c9bc9d518dcf5ce54bb8057ed.html.gz":
        "https://www.nytimes.com/2019/11/18/business/trump-trade-war-china.html",
    "articles/aeb/70cb2d5bca75ab5a8f6bb378a38a52f882f6bda508de93b12502e74936d86ff2.html.gz":
        "https://www.bbc.com/news/newsbeat-50470672",
    "articles/aeb/785affa2c34e6e4844ef080e98e1a1e532eeeb671bdacebfb9e98ad7320ff382.html.gz":
        "https://www.theverge.com/2019/11/19/20973355/noah-hawley-star-trek-4-chris-pine-write-direct-jj-abrams-paramount-report",
    "articles/aeb/7916ecca969ffdd8f6fc32d171fbe0dd63db40fe4c1d2ade02b1dec5929a162f.html.gz":
        "https://www.aljazeera.com/news/2019/11/service-members-killed-afghanistan-helicopter-crash-191120070028895.html",
    "articles/aeb/7a664e40d256470fdb12d10c3f8d1c6db0581e9b080c71765e55f273a3ac7d03.html.gz":
        "https://www.cbsnews.com/news/impeachment-hearings-key-moments-from-kurt-volkers-and-tim-morrisons-testimony-2019-11-19/",
    "articles/aeb/7ab16ade32386ece353b8d31fc3bb7e660189efd5bf3c8549aaba101ad3f5ef5.html.gz":
        "https://www.wsj.com/articles/is-football-violence-a-crime-11574121884",
    "articles/aeb/82b6d780c792df78dcfb00484d50c86fbc7f324a9eb5835b7615f028edb9a574.html.gz":
        "https://hosted.ap.org/berkshireeagle/article/6486944b076b4df99a583a3a7c85574d/unpredictable-sondland-faces-questions-about-trump-ukraine",
    "articles/aeb/8634d1211c3f2b73041e6cadd5d59676619838949999a83a23c51a3195b44892.html.gz":
        "https://www.latimes.com/business/story/2019-11-19/gannett-gatehouse-merger-future-local-news",
    "articles/aeb/88c328b68b038a625b4b3f8c322215caa30b0e88af0754bd71056ffc15c7b4b7.html.gz":
        "https://www.telegraph.co.uk/tennis/2019/11/19/tennis-podcast-davis-cup-finals-launch-madrid-feelings-mixed/",
    "articles/aeb/921019755f4a96ac4abf9dbcb4ef9d5ac202624a542d5ea70912330aa6fcc71f.html.gz":
        "https://news.sky.com/story/jose-mourinho-agrees-deal-to-replace-mauricio-pochettino-as-tottenham-manager-11865382",
    "articles/aeb/b6fb53e9fb043c98eb1e6530a1074c40922e29025f5454809f3938a7c174faa3.html.gz":
        "http://www.remember8090.it/remake-serie-animata-de-i-cavalieri-dello-zodiaco-per-netflix/",
    "articles/aeb/ba07d1e64775f4090e39116c382111f5a2cfe9528dd179673f4e9bfcea370c15.html.gz":
        "https://blog.comwrap.com/comwrap-auf-der-dmexco-2018",
    "articles/aeb/c58aa507c4deebd660f69905f9abb8f96d935f6e7210f597ed4cd32b3f39f7f7.html.gz":
        "https://www.usatoday.com/story/news/politics/2019/11/19/prison-guards-arrested-alleged-failure-check-jeffrey-epstein/4082679002/",
    "articles/aeb/c7e39ac49fa1235f5d50f83bf2444248bd3aa4e6df044377916c812dd109ba23.html.gz":
        "https://www.bbc.com/news/world-europe-50473792",
    "articles/aeb/c82b3d1d540bbbd6081bdfb78b4c068c583aa766bcaaefe7ad16d24e5413a829.html.gz":
        "http://www.wday.ru/articles/53-letnyaya-model-posmotri-na-krasotku-kotoraya-prevratilas-v-staruhu-id120424",
    "articles/aeb/d48aeb9cf2f2ff15769a57513249b4a6a669159f3e50b335e741d4206a824e88.html.gz":
        "https://www.wired.com/story/instagram-business-accounts-analytics/",
    "articles/aeb/e1c7023ee2148901b086256fdd30a0893d10b0720b510d5ff07a021109347266.html.gz":
        "https://phys.org/news/2019-11-hibernating-astronauts-smaller-spacecraft.html",
    "articles/aeb/e4c6a3b482403a8f60190ba27248cd52b250b86f5d4a8a10edcf7062c64fc3f5.html.gz":
        "https://www.washingtonexaminer.com/opinion/why-beijing-will-bring-slaughter-to-hong-kong",
    "articles/aeb/eb62ac8425e5573947ecde962d14433d18e5725cc4a8c908fe22f678e96a65a1.html.gz":
        "https://www.foxnews.com/entertainment/scooter-braun-frustrated-big-machine-scott-borchetta-taylor-swift-feud-report",
    "articles/aeb/ef4e67b66d63b5facef55c06a94d85f2ae01a0a1a4a3a1bcfe2499c8c8a7dacf.html.gz":
        "https://www.cnn.com/2019/11/18/politics/donald-trump-health-walter-reed/index.html",
    "articles/newspaper4k/afpbb.com.japanese_article2.html":
        "http://www.afpbb.com/articles/-/3178894",
    "articles/newspaper4k/arabic.cnn.com.arabic_article.html":
        "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html",
    "articles/newspaper4k/bbc-zhongwen.chinese_article.html":
        "http://www.bbc.co.uk/zhongwen/simp/chinese_news/2012/12/121210_hongkong_politics.shtml",
    "articles/newspaper4k/chinadaily.com.cn.chinese_article_001.html":
        "https://china.chinadaily.com.cn/a/202311/17/WS65571297a310d5acd876f404.html",
    "articles/newspaper4k/en.yna.co.kr.yna_co_kr.html":
        "https://en.yna.co.kr/view/AEN20190820002300325",
    "articles/newspaper4k/news.cn.chinese_article_002.html":
        "http://www.news.cn/fortune/2023-11/17/c_1129981476.htm",
    "articles/newspaper4k/prachatai.com.thai_article.html":
        "https://prachatai.com/journal/2019/01/80642",
    "articles/trafilatura/banyuetan.org.1000200033136171577956287380194268_1.html":
        "http://www.banyuetan.org/jmcs/detail/20200102/1000200033136171577956287380194268_1.html",
    "articles/trafilatura/dw.com.colonial.html":
        "https://www.dw.com/en/berlin-confronts-germanys-colonial-past-with-new-initiative/a-52060881",
    "articles/trafilatura/heise.de.lithium.html":
        "https://www.heise.de/newsticker/meldung/Lithium-aus-dem-Schredder-4451133.html",
    "articles/trafilatura/nhk.or.jp.k10011959621000.html":
        "https://www3.nhk.or.jp/news/easy/k10011959621000/k10011959621000.html",
    "articles/trafilatura/scmp.com.playbook.html":
        "https://www.scmp.com/comment/opinion/article/3046526/",
    "articles/trafilatura/spiegel.de.albtraum.html":
        "https://www.spiegel.de/spiegel/print/d-161500790.html",
    "articles/trafilatura/xinhuanet.com.c_1125597921.html":
        "http://www.xinhuanet.com/local/2020-02/19/c_1125597921.htm",
    "articles/theatlantic.com-coco-review.html":
        "https://www.theatlantic.com/entertainment/archive/2017/11/coco-is-among-pixars-best-movies-in-years/546695/",
}


def recipes() -> dict[str, Rules]:
    """Return the rules of every source of config.example.toml by each host they serve (its first channel's)."""
    config = load_config(EXAMPLE, environ={})
    return {host: source.channels[0].rules for source in config.sources.values()
            for host in source.channels[0].rules.hosts}


def rule_for(url: str, by_host: dict[str, Rules]) -> dict:
    """Return the scoring rule of a page: the recipe of its host. Raise KeyError when no recipe serves it."""
    rules = by_host[urlsplit(url).hostname]
    rule = {"url": url, "content": rules.content, "remove": list(rules.remove)}
    return rule | ({"lead": rules.lead} if rules.lead else {})


def rules_of_pages() -> dict[str, dict]:
    by_host = recipes()
    return {rel: rule_for(url, by_host) for rel, url in PAGES.items()}


RULES: dict[str, dict] = rules_of_pages()
