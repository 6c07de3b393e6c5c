# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # q04 · 有没有只在部分时刻生效、又不改模型的攻击？
#
# > **张凯博**（课后采纳）：请问有没有什么攻击可以既不用修改模型，又可以在部分时刻激活攻击而不是像 Adversarial Patch
# > 那样一直激活攻击？
#
# *Attacks that switch on only sometimes*
#
# 助教认为几乎不可能：224×224 的图像装不下那么多信息；“有条件地控制”比吸引注意力的补丁难得多；物理世界里损失更大。
# 这三条都可以测量，而不是断言。我们让三个攻击者对付同一个靠摄像头输入的路牌识别器（q02 的同一个识别器）：
#
# * **一直生效的通用补丁** [@brown2017adversarial]：只要贴在场景里就起作用，要“关掉”只能把它拿走；
# * **带钥匙的条件补丁**：训练时一半场景里补丁旁边有一块纯色“钥匙”贴纸，要求送到目标类；另一半只有补丁，要求识别器
#   给出它对原图的判断。攻击者通过加上或拿走钥匙来开关攻击，**模型一个参数都没有变**；
# * **后门**（BadNets [@gu2019badnets]）作对照：在训练数据里投毒，模型看到触发器就输出目标类——它能开关，但它改变了模型
#   （通过训练数据）。
#
# 还有一种“条件”攻击我们每天都在用：**逐图的对抗扰动**本来就只在攻击者施加它的那张图上存在。问题问的是一个
# **固定的物理物体**能否按需开关——下面量的就是这个。下面每个数字都是本页构建时测得的。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q04")

meta = result.meta
print(f"target class={meta['target']}, patch {meta['size']}×{meta['size']}, "
      f"key {meta['key']}×{meta['key']}, backdoor trigger {meta['trigger']}×{meta['trigger']} "
      f"({meta['poison_ratio']:.0%} of the training set poisoned), capture severity {meta['severity']}")

# %% [markdown]
# ## 开与关
#
# “on”：条件满足时被送到目标类的比例；“off”：条件不满足时的同一比例（误触发）；选择性 = on − off。

# %%
result.show("onoff")

# %%
result.show("scenes")

# %% tags=["hide-input"]
rows = {r["key"]: r for r in result.tables["onoff"].rows}
cd, cc = rows["conditional/digital"], rows["conditional/captured"]
bd, ad = rows["backdoor/digital"], rows["always_on/digital"]
Markdown(
    f"在数字图像上，条件补丁有钥匙时发射 **{cd['on_rate']:.0%}**，没有钥匙时 **{cd['off_rate']:.0%}**；"
    f"单独的钥匙（没有补丁）{meta['key_only_rate']['digital']:.0%}。一直生效的补丁在场景里时 {ad['on_rate']:.0%}，"
    f"拿走后 {ad['off_rate']:.0%}。后门有触发器时 {bd['on_rate']:.0%}，没有时 {bd['off_rate']:.0%}，"
    f"而它的触发器只占图像的 {bd['area']:.1%}（条件补丁加钥匙占 {cd['area']:.1%}）。"
    f"经过模拟拍摄（补丁为此专门用 EOT 训练），条件补丁的 on/off 变成 {cc['on_rate']:.0%} / {cc['off_rate']:.0%}。"
)

# %% [markdown]
# ## 条件补丁要多大？

# %%
result.show("size")

# %%
result.show("size_curve")

# %% [markdown]
# ## 助教的“信息量”论证
#
# 如果“图像装不下那么多信息”是限制，那么同样的**相对**大小在更低的分辨率下应该更难做到有条件。我们在 24×24 和 32×32
# 两种分辨率上、用同一批场景各训练一个识别器和一块条件补丁（补丁与钥匙的边长都按 24/32 = 3/4 缩小，取整）。

# %%
result.show("resolution")

# %% [markdown]
# ## 换一个种子还成立吗？
#
# 补丁是优化出来的，识别器是训练出来的：换一个种子（数据、初始化、补丁的起点、场景），同样的做法会得到另一块补丁、另一个
# 识别器。所以下面的三条结论都在几次独立运行之间判定，下表每一行是一次运行。

# %%
result.show("runs")

# %% [markdown]
# ## 助教的三条理由，数据怎么说

# %% tags=["hide-input"]
outcome = result.outcomes
res24, res32 = ({r["pixels"]: r for r in result.tables["resolution"].rows}[px] for px in (24, 32))
verdict = {"holds": "数据支持", "fails": "数据不支持", "inconclusive": "证据不足以判断"}
cb = rows["backdoor/captured"]
Markdown(
    f"1. **“图像信息太少”**——分辨率从 24×24 到 32×32，条件补丁的选择性从 {res24['selectivity']:.0%} 变为 "
    f"{res32['selectivity']:.0%}（{verdict[outcome['more_pixels_easier_switch']]}“像素越多越容易”）。"
    + ("在我们测的两种分辨率上，像素越少越难，与助教的推论方向相反。（推测，未测量：224×224 的图像比我们的大得多，"
       "若这个趋势延续，留给条件补丁的空间只会更多；我们只测了两种很小的分辨率。）\n"
       if outcome["more_pixels_easier_switch"] == "holds" else "这两种分辨率还不足以说明信息量的作用。\n")
    + f"2. **“有条件地控制比吸引注意力难”**——数字图像上，一直生效的补丁拿走即关，选择性 {ad['selectivity']:.0%}；"
    f"条件补丁 {cd['selectivity']:.0%}（{verdict[outcome['conditional_patch_is_selective']]}“条件补丁有选择性”）；"
    f"后门用小得多的触发器做到 {bd['selectivity']:.0%}——这一项只展示、不判定：后门模型本来就是为“见到触发器就发射”训练的，"
    "它的选择性到顶是设计使然，不是一个可能出错的发现。（解释，未单独测量：后门把“条件”写进了模型本身，补丁只能利用"
    "模型已有的弱点。）\n"
    f"3. **“物理世界损失更大”**——同一个摄像头识别器上，条件补丁的选择性经过拍摄后下降"
    f"（{verdict[outcome['capture_blurs_the_switch']]}）；"
    f"后门的 {meta['trigger']}×{meta['trigger']} 触发器经过同样的拍摄，发射率是 {cb['on_rate']:.0%}"
    f"（数字图像上 {bd['on_rate']:.0%}），尽管这个模型是在拍过的（仍带毒的）数据上微调的。\n\n"
    + (f"所以：不改模型、只靠一个可开关的物体，能让补丁**在有钥匙时更常生效**（{cd['on_rate']:.0%} 对没有钥匙时的 "
       f"{cd['off_rate']:.0%}），但没有钥匙时它并不沉默；经过相机，它的选择性从 {cd['selectivity']:.0%} 降到 "
       f"{cc['selectivity']:.0%}。数字图像上，后门用 {bd['area']:.1%} 的面积做到了 {bd['selectivity']:.0%} 的选择性"
       f"（条件补丁加钥匙占 {cd['area']:.1%}；后门与补丁的比较只展示、不判定，理由见上）；拍摄之后后门的选择性是 "
       f"{cb['selectivity']:.0%}，条件补丁 {cc['selectivity']:.0%}"
       + ("。" if cb["selectivity"] > cc["selectivity"] else "：“后门的开关更干净”只在数字图像上看得到。")
       if all(outcome[c] == "holds" for c in ("conditional_patch_is_selective", "capture_blurs_the_switch"))
       else "这一次测量的结论见下面的判定表；其中不成立或证据不足的，上面的说法也随之不成立。")
)

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据判定：单位是一次独立运行（各次的数值都在证据里，每一次都必须指向同一个
# 方向）。✓ 成立、✗ 不成立、? 证据不足。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q04                  # 与本页相同的 site 配置
# answers run q04 --profile tiny   # 几秒钟的小配置
# ```
