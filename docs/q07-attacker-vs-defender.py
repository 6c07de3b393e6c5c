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
# # q07 · 攻击方和防御方，谁更占优势？
#
# > **高帆**（课后采纳）：现在的发展情况中，攻击方和防御方哪个整体上更占优势？
#
# *Overall, is the attacker or the defender ahead?*
#
# 助教的回答是“攻击方更占优势”，给了五条理由。其中能测量的，我们在同一个分类器上测量：一张**攻击 × 防御**矩阵，
# 每格是该防御在该攻击下保住的准确率；再加一列“最坏情况”——一张图只有扛住全部攻击才算对，因为攻击者只要有一种能用就赢。
# 防御包括输入预处理（JPEG、中值滤波、像素偏转 [@prakash2018deflecting]）、随机平滑 [@cohen2019certified] 和对抗训练
# [@madry2018towards]；攻击包括 FGSM、PGD、知道防御的自适应攻击（EOT [@athalye2018synthesizing] / BPDA
# [@athalye2018obfuscated]，JPEG 则穿过可微 JPEG）、用攻击者自己训练的替身模型生成的迁移攻击，以及一个小方块补丁 [@brown2017adversarial]（边长见下表的列名）。
# 随机平滑与 [q08](../q08-defense-cost/) 用同一条弃权规则（两类票数不能显著区分时弃权，弃权算错）。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q07")

rows = {r["key"]: r for r in result.tables["matrix"].rows}
print(f"images={result.meta['images']}, L∞ ε={result.meta['eps']}")

# %%
result.show("matrix")

# %%
result.show("heatmap")

# %% [markdown]
# ## 助教的五条理由，哪些能测？
#
# 1. **“攻击者只需要找出一种能用的攻击，防御者要应对所有攻击。”**——可以测：比较每行在标准 PGD 下的准确率
#    （防御者通常拿来评估的那一种攻击）与“最坏情况”（攻击者五种都试、每张图任一成功即算攻破）。
# 2. **“攻击者可以想出新的攻击，防御者只能事后补救。”**——部分可测：预处理防御是针对“普通 PGD”设计的，
#    换成知道防御的自适应攻击（EOT/BPDA）后，它们保住的准确率见下。
# 3. **“在有人报告之前，攻击就是零日漏洞。”**——论证，无法在这里测量。
# 4. **“攻击成功的收益大、防御的收益难以衡量。”**——论证，无法在这里测量。
# 5. **“防御者可能不知道自己防住了什么。”**——论证；矩阵能说明的只是：每种防御在各列攻击下保住的准确率相差多大（见下），
#    只看一列就只知道那一列。

# %% tags=["hide-input"]
defended = [r for k, r in rows.items() if k != "none"]
pre = [rows[k] for k in ("jpeg", "median", "deflection")]
at, none = result.row("matrix", "pgd_at"), result.row("matrix", "none")
gaps = [r["PGD"] - r["worst_case"] for r in defended]
combined = {r["key"]: r for r in result.tables["linf_combined"].rows}      # each defense's own Holm-adjusted test
combining = [r for r in defended if combined[r["key"]]["p_holm"] < 0.05 and combined[r["key"]]["gap"] > 0]
close = [r for r in defended if r not in combining]
adaptive = result.get_claim("adaptive_undoes_preprocessing").evidence
undone = [r for r in pre if r["key"] in adaptive.design["holding"]]
Markdown(
    f"* 理由 1：对每种防御，五种攻击各取所长后的准确率比只用标准 PGD 评估时低 {min(gaps) * 100:.0f}–{max(gaps) * 100:.0f} "
    f"个百分点；没有防御时，标准 PGD 一种就已拿下 {1 - none['PGD'] / none['clean']:.0%} 的正确预测。"
    "这个差距本页没有逐项分解（解释：多半来自标准 PGD 不知道防御、以及补丁换了威胁模型）。只看同一 L∞ 预算的四种攻击，"
    f"{len(defended)} 种防御中只有 {len(combining)} 种（{'、'.join(r['防御 defense'] for r in combining) or '无'}）"
    "在四种攻击合起来时显著低于其中最强的单一攻击（每种防御单独做 McNemar 检验，Holm 校正）；其余 "
    + "、".join(f"{r['防御 defense']}（最强的是 {r['strongest_linf']}：{r[r['strongest_linf']]:.1%}，合起来 {r['worst_linf']:.1%}）"
                for r in close)
    + (f" 上，合起来与最强的单一攻击之差没有通过检验，最多 {max(r[r['strongest_linf']] - r['worst_linf'] for r in close) * 100:.1f}"
       " 个百分点。" if close else "")
    + "（四种合起来按构造不会比最强的一种更弱，所以这只是测量，不是结论，见下表。）\n"
    f"* 理由 2：三种预处理在普通 PGD 下平均保住 {sum(r['PGD'] for r in pre) / 3:.0%}，"
    f"在自适应攻击下平均 {sum(r['adaptive (EOT/BPDA)'] for r in pre) / 3:.0%}；逐个检验，自适应攻击显著更强的是 "
    f"{'、'.join(r['防御 defense'] for r in undone) or '无'}（{len(undone)}/{len(pre)}）。"
    + "".join(f"{r['防御 defense']}上自适应攻击与普通 PGD 各攻破一些对方攻不破的图，准确率 {r['adaptive (EOT/BPDA)']:.1%} 对 "
              f"{r['PGD']:.1%}。" for r in pre if r not in undone)
    + "（解释，未另行测量：像素偏转每次随机挑像素，同一张图这次攻得破、下次未必，BPDA+EOT 的梯度近似也就不比直接攻击"
    "底层模型更准。）\n"
    f"* 防御方也有能做的：把代价放到训练阶段的对抗训练，最坏情况下的准确率是 {at['worst_case']:.0%}"
    f"（无防御 {none['worst_case']:.0%}），干净准确率 {at['clean']:.0%}（无防御 {none['clean']:.0%}）。"
    "一次训练可能只是一个种子的运气，所以这一条按独立的训练来判（下表，每次用自己的种子生成数据、训练两个模型）。"
)

# %%
result.show("linf_combined")

# %%
result.show("at_runs")

# %% [markdown]
# ## 双方各花多少？
#
# 攻击者的代价按每张图的模型调用次数和耗时计（迁移攻击只调用攻击者自己的替身模型，不需要查询被攻击的系统）；
# 防御者的推理代价见 [q08](../q08-defense-cost/)。

# %%
result.show("attacker_cost")

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据（同一批图片上的配对精确检验）判定：✓ 成立、✗ 不成立、? 证据不足。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q07                  # 与本页相同的 site 配置
# answers run q07 --profile tiny   # 几秒钟的小配置
# ```
