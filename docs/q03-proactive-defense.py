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
# # q03 · 只能事后补救，还是可以主动预防？
#
# > **石雨宸**（课后采纳）：是不是只有发生过攻击我们才能针对特定的攻击方法进行补充的安全性措施？我们是否可以主动预防攻击，
# > 如通过某些处理增加图像识别的鲁棒性，使得攻击无效或减弱它的效果？
#
# *Must defenders wait for an attack, or can preprocessing (stretching, rotating, flipping, brightness, pixel
# deflection) defend proactively?*
#
# 下面的**简短回答**按本页构建时测得的数字与判定写出。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q03")

rows = {r["key"]: r for r in result.tables["preprocessing"].rows}
print(f"model={result.meta['model']}, L∞ ε={result.meta['eps']}")

# %% tags=["hide-input"]
_defenses = [r for k, r in rows.items() if k != "none"]
_up = sum(r["naive_attack"] > rows["none"]["naive_attack"] for r in _defenses)
_naive = sum(r["naive_attack"] for r in _defenses) / len(_defenses)
_adaptive = sum(r["adaptive_attack"] for r in _defenses) / len(_defenses)
_overstated = result.get_claim("naive_numbers_overstate").outcome == "holds"
Markdown(
    ("**简短回答：可以主动做，但它主要挡住“不知道你做了什么”的攻击者。** " if _overstated else "**简短回答：** ")
    + "助教列举的是拉伸、旋转、翻转、调整亮度和像素偏转 [@prakash2018deflecting]；我们把拉伸换成文献里常用的随机缩放填充 "
    "[@xie2018mitigating]，并加上另外几种常见的输入预处理：JPEG 重编码 [@guo2018countering]、位深压缩与中值滤波 "
    f"[@xu2018feature]。面对只攻击原模型的攻击者，{len(_defenses)} 种里有 {_up} 种比不设防（{rows['none']['naive_attack']:.1%}）"
    "分对得多（点估计，每种多少见下表）；攻击者一旦把防御也算进去——对随机变换取期望（EOT [@athalye2018synthesizing]），"
    "对不可导的步骤用可导的近似反传（JPEG 用 kornia 的可微 JPEG，位深与像素偏转用恒等近似 BPDA [@athalye2018obfuscated]）——"
    f"平均准确率从 {_naive:.0%} {'降到' if _adaptive < _naive else '变为'} {_adaptive:.0%}"
    + ("（多数防御单独检验也显著更低，见判定表）。这正是“道高一尺魔高一丈”的具体样子。" if _overstated
       else "（单独检验的结果见判定表）。")
    + "下面每个数字都是本页构建时测得的。"
)

# %% [markdown]
# ## 每种预处理防御：代价与两种攻击者
#
# “干净准确率（未训练）”是标准模型前加上该变换后的干净准确率；“在变换上微调”是**把标准模型在同一变换的图片上继续训练几轮**后的
# 干净准确率——这正是助教说的“如果没有在训练阶段进行针对性训练，准确率也会下降”，这里把它量出来。“不知情攻击下”是攻击者不知道防御时的准确率，
# “自适应攻击下”是攻击者穿过防御求梯度时的准确率；最后两列是两种攻击下逐图对错的配对精确检验（McNemar）及其判定。

# %%
result.show("preprocessing")

# %%
result.show("defenses")

# %% tags=["hide-input"]
d = [r for name, r in rows.items() if name != "none"]


def mean(key):
    return sum(r[key] for r in d) / len(d)


best = max(d, key=lambda r: r["adaptive_attack"])
lower = [r["防御 defense"] for r in d if r["adaptive_verdict"].endswith("lower")]
same = [r["防御 defense"] for r in d if r["adaptive_verdict"].startswith("无显著")]
higher = [r["防御 defense"] for r in d if r["adaptive_verdict"].endswith("higher")]
Markdown(
    f"无防御时，PGD 下准确率为 {rows['none']['naive_attack']:.0%}。加上预处理后，面对不知情的攻击者平均为 "
    f"**{mean('naive_attack'):.0%}**，面对自适应攻击者平均为 **{mean('adaptive_attack'):.0%}**。"
    f"逐个看：自适应攻击让 {len(lower)} 种防御的准确率显著下降（{'、'.join(lower) or '无'}）；"
    f"{len(same)} 种没有显著差别（{'、'.join(same) or '无'}）"
    + (f"；{len(higher)} 种在自适应攻击下反而更高（{'、'.join(higher)}）——我们的自适应攻击（固定步数、有限的 EOT 样本）"
       "对它们并不是最强的攻击，防御者真正的准确率是两种攻击下逐图取最坏" if higher else "")
    + f"。自适应攻击下表现最好的是 {best['防御 defense']}（{best['adaptive_attack']:.0%}）。"
    f"在变换上微调后，加上该变换的干净准确率平均从 {mean('clean_untrained'):.0%} 变为 {mean('clean_trained'):.0%}；"
    f"让未训练模型明显变差的变换有 {result.claim_values('training_recovers_clean_accuracy')['costly_transforms']} 种，"
    "微调是否把它们逐个救回来，要在几次独立训练之间看（下表；每种变换单独检验，判定见判定表里的“助教说……”一条）。"
)

# %% [markdown]
# 微调是一次训练：换一个种子（标准模型的初始化、数据顺序、测试图），结果就会变。所以对每种明显掉准确率的变换，
# 下表都重复了整个过程——训练标准模型、在该变换上微调、在该次自己的测试图上测量。

# %%
result.show("recovery_runs")

# %% [markdown]
# ## 旋转也是攻击者的工具
#
# 助教把旋转列为防御手段，但旋转同样可以用来攻击：[@wu2022just] 用旋转变换作为后门的触发器——在训练数据中投毒，
# 让模型把“旋转到特定角度的图片”与目标类别关联起来，部署时只需把物体转到那个角度就能触发，不需要在图上加任何补丁。
# 即使不投毒，只在不大的角度范围内为每张图挑一个最坏的角度，也可能让模型出错（空间变换攻击，[@engstrom2019exploring]）。
# 有一点要小心：方块转 45° 就是菱形，十字转 45° 就是斜十字，两个三角形相差 60°——这些标志转过头，真实类别本身就变了，
# 模型“认错”不能算攻击得手。所以结论只在转多少都不会变成别的类的标志上判定（表中 accuracy；accuracy_all 是全部图片）：

# %%
result.show("rotation")

# %% tags=["hide-input"]
rot = result.claim_values("rotation_is_an_attack")
Markdown(f"只看转不成别的类的 {rot['images']} 张图：不旋转时准确率 {rot['upright']:.0%}；在 {rot['angles_tried']} 个角度中"
         f"为每张图挑最坏的一个，准确率{'降到' if rot['worst_of_angles'] < rot['upright'] else '仍是'} "
         f"**{rot['worst_of_angles']:.0%}**。")

# %% [markdown]
# ## “可认证的防御”的前提条件
#
# 助教说认证防御“有很苛刻的前提条件，而攻击者并不一定遵守”。以随机平滑 [@cohen2019certified] 为例：它证明的是
# “在这个 L2 半径内的任何扰动都改变不了预测”。下表把证书的半径与攻击者**实际使用**的扰动大小放在一起（同一批图片）：

# %%
result.show("certificate")

# %% tags=["hide-input"]
cert = result.meta["certificate"]
Markdown(f"本次 {cert['certified']}/{cert['images']} 张图被认证。无论模型多好，用 N 个噪声样本能认证的半径都不超过 "
         f"σ·Φ⁻¹(α^(1/N)) = **{cert['cap']:.2f}**——这个上限只由 σ、N、α 决定（见下方自检）；而一个 L∞ ε={result.meta['eps']} 的扰动，"
         f"L2 大小约为 **{cert['median_linf_l2']:.2f}**，一个 {cert['patch']}×{cert['patch']} 的补丁约为 **{cert['median_patch_l2']:.2f}**。"
         + ("证书的上限小于这两种扰动：" if cert["cap"] < min(cert["median_linf_l2"], cert["median_patch_l2"]) else
            "证书的上限并不小于这两种扰动，但")
         + "证书在它的假设（L2 半径内的扰动）内是成立的，攻击者却不受这个假设约束：这就是“前提条件苛刻”的具体含义。"
         "要认证更大的半径，就得加大 σ（干净准确率下降）或 N（调用次数上升，见 q08）。")

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据（同一批图片上的配对精确检验）判定：✓ 成立、✗ 不成立、? 证据不足；
# 自检是代码的不变量，任何配置下都必须成立。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q03                  # 与本页相同的 site 配置
# answers run q03 --profile tiny   # 几秒钟的小配置
# ```
