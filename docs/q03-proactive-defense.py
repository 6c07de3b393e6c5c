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
# **简短回答：可以主动做，但它只挡得住“不知道你做了什么”的攻击者。** 助教列举的拉伸、旋转、翻转、调整亮度，以及像素偏转
# [@prakash2018deflecting]、随机缩放填充 [@xie2018mitigating]、JPEG [@guo2018countering]、位深压缩与中值滤波
# [@xu2018feature]，面对只攻击原模型的攻击者确实能挽回不少准确率；但攻击者一旦把防御也算进去——对随机变换取期望（EOT
# [@athalye2018synthesizing]），对不可导的步骤用恒等近似反传（BPDA [@athalye2018obfuscated]）——收益明显缩水，
# 缩水多少取决于攻击者肯花多少计算（EOT 样本数、迭代步数）。这正是“道高一尺魔高一丈”的具体样子。
# 下面每个数字都是本页构建时测得的。

# %%
import os

from IPython.display import Markdown

from answers.q03_proactive_defense import run

result = run(profile=os.environ.get("ANSWERS_PROFILE", "site"), progress=False)
rows = {r["防御 defense"]: r for r in result.tables["preprocessing"].rows}
print(f"profile={result.profile}, seed={result.seed}, model={result.meta['model']}, L∞ ε={result.meta['eps']}")

# %% [markdown]
# ## 每种预处理防御：代价与两种攻击者
#
# `clean_untrained` 是标准模型前加上该变换后的干净准确率；`clean_trained` 是**用同一变换做数据增强训练**的模型的干净准确率——
# 这正是助教说的“如果没有在训练阶段进行针对性训练，准确率也会下降”，这里把它量出来。`naive_attack` 是攻击者不知道防御时的准确率，
# `adaptive_attack` 是攻击者穿过防御求梯度时的准确率。

# %%
result.show("preprocessing")

# %%
result.show("defenses")

# %%
d = [r for name, r in rows.items() if name != "none"]


def mean(key):
    return sum(r[key] for r in d) / len(d)


best = max(d, key=lambda r: r["adaptive_attack"])
Markdown(
    f"无防御时，PGD 下准确率为 {rows['none']['naive_attack'] * 100:.0f}%。加上预处理后，面对不知情的攻击者平均为 "
    f"**{mean('naive_attack') * 100:.0f}%**，面对自适应攻击者平均只有 **{mean('adaptive_attack') * 100:.0f}%**。"
    f"自适应攻击下表现最好的是 {best['防御 defense']}（{best['adaptive_attack'] * 100:.0f}%）。"
    f"用同一变换训练后，干净准确率平均从 {mean('clean_untrained') * 100:.0f}% 变为 {mean('clean_trained') * 100:.0f}%。"
)

# %% [markdown]
# ## 旋转也是攻击者的工具
#
# 助教把旋转列为防御手段，但旋转同样可以用来攻击：[@wu2022just] 用旋转变换作为后门的触发器——在训练数据中投毒，
# 让模型把“旋转过的图片”与目标类别关联起来，部署时只需把物体转一个角度就能触发；不加任何补丁，肉眼也难以察觉。
# 即使不投毒，只在 ±30° 内为每张图挑一个最坏的角度，也足以让模型大量出错（空间变换攻击，[@engstrom2019exploring]）：

# %%
result.show("rotation")

# %%
rot = next(c for c in result.claims if c.id == "rotation_is_an_attack").values
Markdown(f"不旋转时准确率 {rot['clean'] * 100:.0f}%；在 {rot['angles_tried']} 个角度中为每张图挑最坏的一个，准确率降到 "
         f"**{rot['worst_of_angles'] * 100:.0f}%**。")

# %% [markdown]
# ## “可认证的防御”的前提条件
#
# 助教说认证防御“有很苛刻的前提条件，而攻击者并不一定遵守”。以随机平滑 [@cohen2019certified] 为例：它证明的是
# “在这个 L2 半径内的任何扰动都改变不了预测”。下表把证书的半径与攻击者**实际使用**的扰动大小放在一起（同一批图片）：

# %%
result.show("certificate")

# %%
cert = next(c for c in result.claims if c.id == "certificate_covers_less_than_attacks").values
Markdown(f"证书最多覆盖 L2 半径 **{cert['max_certified_radius']:.2f}**；而一个人眼几乎看不出的 L∞ ε=4/255 扰动，L2 大小约为 "
         f"**{cert['median_linf_attack_l2']:.2f}**，一个 3×3 的补丁约为 **{cert['median_patch_l2']:.2f}**。证书在它的假设内是成立的，"
         "但攻击者并不受这个假设约束：这就是“前提条件苛刻”的具体含义。")

# %% [markdown]
# ## 结论与判定
#
# 每条结论都由上面测得的数值和一条写明的规则判定（✓ 成立 / ✗ 不成立）；测试在 tiny 配置下逐条断言它们。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q03                  # 与本页相同的 site 配置
# answers run q03 --profile tiny   # 几秒钟的小配置
# ```
