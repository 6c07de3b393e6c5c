"""The course page the project starts from, as data (智能产业研究院, 图像识别的攻击与防御).

Each :class:`Entry` is one line of the page: an asker in a section, with the question they asked (if the page
records one), the id our answer uses, and the bib keys the TA's answer cited. The home page, ``answers check``
and the open-slot list are all generated from this one list.
"""
from __future__ import annotations

from dataclasses import dataclass

TITLE = "图像识别的攻击与防御"
INSTITUTE = "智能产业研究院"
ADVISOR = "刘云新"
STUDENT = "袁宜桢"

SECTIONS = ("讲课当天助教采纳", "课后采纳", "大闭环助教采纳", "大闭环自选")


@dataclass(frozen=True)
class Entry:
    section: str
    asker: str
    qid: str | None = None          # our answer's id, when the page records a question
    question: str | None = None     # the question as the course page words it
    ta_cites: tuple[str, ...] = ()  # bib keys the TA's answer cited


ENTRIES: tuple[Entry, ...] = (
    Entry("讲课当天助教采纳", "朱结奥", "q01", "请问现在的图像检测器为什么这么容易受攻击？", ("zeiler2014visualizing",)),
    Entry("讲课当天助教采纳", "周玉清", "q02",
          "白盒攻击中的所有攻击方法都将输入图像直接提供给机器学习模型。但是在使用摄像头、麦克风或其他传感器接收信号作为输入的情况下，"
          "是否都是通过生成物理世界对抗对象来攻击这些系统？", ("thys2019fooling", "xu2020adversarial")),
    Entry("课后采纳", "石雨宸", "q03",
          "是不是只有发生过攻击我们才能针对特定的攻击方法进行补充的安全性措施？我们是否可以主动预防攻击，"
          "如通过某些处理增加图像识别的鲁棒性，使得攻击无效或减弱它的效果？", ("wu2022just", "prakash2018deflecting")),
    Entry("课后采纳", "张凯博", "q04",
          "请问有没有什么攻击可以既不用修改模型，又可以在部分时刻激活攻击而不是像 Adversarial Patch 那样一直激活攻击？"),
    Entry("课后采纳", "易琦", "q05", "目前对于机器学习算法的防御攻击能力，有哪些指标可以评估？"),
    Entry("课后采纳", "耿瀚飞", "q06",
          "防御方现在为了进行 Verification 会在训练过程中加入 Adversarial Data，因此也大大增加了训练成本。"
          "在现在的 Adversarial Training 中，训练成本和同数据集的正常训练相比，会高出多少倍？", ("shafahi2019adversarial",)),
    Entry("课后采纳", "高帆", "q07", "现在的发展情况中，攻击方和防御方哪个整体上更占优势？"),
    Entry("大闭环助教采纳", "黄兆辉", "q08", "防御图像识别攻击是否会对识别速度和资源消耗产生影响？如何平衡安全性和性能之间的关系？",
          ("xiang2022patchcleanser", "liu2018fine", "wu2021adversarial", "chen2018detecting", "villarrealvasquez2020confoc")),
    Entry("大闭环助教采纳", "石雨宸", "q09",
          "请问图像识别系统的防御是否可以通过模型训练来实现？迁移学习、集成学习和强化学习等技术是否可以应用于图像识别的防御？",
          ("li2021neural", "turner2019label")),
    Entry("大闭环助教采纳", "倪柯书", "q10", "如何利用集成和多样化的模型架构来提高深度学习模型对抗后门攻击的安全性？",
          ("su2018robustness",)),
    Entry("大闭环助教采纳", "孙佳辰"),
    Entry("大闭环助教采纳", "周玉清"),
    Entry("大闭环自选", "易琦"),
    Entry("大闭环自选", "杜其原"),
    Entry("大闭环自选", "苏奕晗"),
    Entry("大闭环自选", "张君宇"),
    Entry("大闭环自选", "张哲"),
    Entry("大闭环自选", "王彦豪"),
)

#: The course page's own note under 大闭环自选.
SELF_CHOSEN_NOTE = "剩下的与小闭环助教采纳重合"


def questions() -> list[Entry]:
    """Entries that carry a question, in course-page order."""
    return [e for e in ENTRIES if e.qid]


def open_slots() -> list[Entry]:
    """Askers the page lists without a question: open slots for new contributions."""
    return [e for e in ENTRIES if not e.qid]


def entry(qid: str) -> Entry:
    for e in ENTRIES:
        if e.qid == qid:
            return e
    raise KeyError(qid)
