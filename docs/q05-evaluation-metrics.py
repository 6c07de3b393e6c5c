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
# # q05 · 攻击与防御，用哪些指标来评估？
#
# > **易琦**（课后采纳）：目前对于机器学习算法的防御攻击能力，有哪些指标可以评估？
#
# *How attacks and defenses are measured*
#
# 助教的回答点到了干净准确率（CA）和攻击成功率（ASR），说后门攻击让 CA 保持高而 ASR 也高，对抗补丁不改变 CA，
# 列出了可调的“旋钮”（投毒比例、触发器大小、补丁大小），并说攻击一般不考虑延迟和内存。下面先把指标一个个定义清楚
# （每个都回答一个问题），再在我们的模型上把这些旋钮转一遍。下面每个数字都是本页构建时测得的。
#
# ## 指标：定义与它回答的问题
#
# 记测试集为 (xᵢ, yᵢ)，i = 1…n，模型为 f，目标类为 t，触发器施加为 T(·)，攻击生成的对抗样本为 A(x)；[·] 为真时取 1，
# 否则取 0；N = {i : yᵢ ≠ t} 是非目标类的图片，#N 是它们的个数；g 是带证书的分类器，R(x) 是它给出的认证范围
# （随机平滑：L2 半径；PatchCleanser 没有半径，证书针对任意位置、不超过给定大小的补丁）。
#
# | 指标 | 公式 | 回答的问题 |
# |---|---|---|
# | 干净准确率 CA | (1/n) Σᵢ [f(xᵢ) = yᵢ] | 没有攻击时模型还好用吗？（后门与防御都要看它掉了多少） |
# | 攻击成功率 ASR（后门） | (1/#N) Σ(i∈N) [f(T(xᵢ)) = t] | 带触发器的非目标类图片有多少被送到目标类？ |
# | 鲁棒准确率 RA（后门） | (1/#N) Σ(i∈N) [f(T(xᵢ)) = yᵢ] | 带触发器时还能认对多少？（防御去除后门后应回升） |
# | 攻击下的准确率 | (1/n) Σᵢ [f(A(xᵢ)) = yᵢ] | 面对这种攻击，防御保住了多少？ |
# | 多种攻击下的最坏情况 | (1/n) Σᵢ Π(A) [f(A(xᵢ)) = yᵢ] | 攻击者每张图挑最有效的攻击时还剩多少？（见 [q07](../q07-attacker-vs-defender/)） |
# | 认证准确率 | (1/n) Σᵢ [g(xᵢ) = yᵢ 且 R(xᵢ) ≥ r] | 对威胁范围 r 内（L2 半径 r，或不超过 r 的补丁）的**任何**攻击都有保证的比例 [@cohen2019certified] [@xiang2022patchcleanser] |
# | 对抗样本的成功率 | 原本分对的图片中 f(A(xᵢ)) ≠ yᵢ 的比例 | 原本分对的图片，攻击后有多少被分错？ |
# | 每张图的查询次数与耗时 | 插桩计数 / 计时 | 攻击者要付出多少？黑盒攻击者往往按查询次数付费 |
# | 推理延迟、调用次数、内存 | 计时 / 插桩计数 | 防御让识别慢了多少？（见 [q08](../q08-defense-cost/)） |
#
# ASR 和 RA 只在非目标类的图片上算（后门基准的通行定义：目标类的图片本来就该被分到目标类）。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q05")

print(f"target class={result.meta['target']}")

# %% [markdown]
# ## 后门：投毒比例 × 触发器大小
#
# BadNets 式投毒 [@gu2019badnets]：把一部分训练图片打上触发器、标签改成目标类（本页的触发器是右下角的黑白棋盘格；原论文用的是亮像素图案和贴纸）。
# 每个格子是一个单独训练的模型。

# %%
result.show("ca_heatmap")

# %%
result.show("asr_heatmap")

# %%
result.show("sweep")

# %%
result.show("smallest_ratio")

# %% [markdown]
# 网格的每个格子只训练了一次。“比例越大、触发器越大，ASR 越高”比较的是训练设置，所以每一行、每一列只取两端的格子
# （只取较小设置还没到顶的那几档：用 run 0 偶数号的攻击图来选，run 0 只以奇数号的攻击图参与判定，免得同一批图
# 既选档又判定），用另外几个种子各自重新生成数据、投毒、训练。每一档单独检验（Holm 校正）：
# 每次训练在它自己的测试图上配对比较两个模型，检验按训练分层（McNemar，把各次训练的不一致图片加在一起，但不把不同训练的
# 图片当成同一个样本），而且每一次训练都要上升。

# %%
result.show("asr_rises_with_ratio_runs")

# %%
result.show("asr_rises_with_trigger_runs")

# %% [markdown]
# 后门花不花干净准确率，比较的是两次训练：所以在模型库的后门设置下，干净模型和后门模型各训练几次（每次用自己的种子生成
# 数据、初始化、打乱顺序），每次在自己的测试图上比较。

# %%
result.show("ca_runs")

# %% tags=["hide-input"]
ca = result.claim_values("ca_kept_asr_high")
drops = [r["ca_drop"] for r in result.tables["ca_runs"].rows]
held = result.get_claim("ca_kept_asr_high").outcome == "holds"
Markdown(
    f"助教说后门“CA 保持高而 ASR 也高”：{len(drops)} 次独立训练，后门模型的 CA 平均比干净模型低 {ca['ca_drop'] * 100:.1f} 个百分点，"
    f"各次从 {min(drops) * 100:+.1f} 到 {max(drops) * 100:+.1f} 个百分点（负数表示后门模型反而更高），ASR 平均 {ca['asr']:.0%}。"
    + ("这正是后门难以发现的原因：只看 CA 的评估看不出异常，必须同时报告 ASR（和 RA）。" if held
       else "这几次训练没有证实这一点（见下面的判定表）。")
)

# %% [markdown]
# ## 对抗补丁：补丁大小 → 成功率，CA 不变
#
# 通用补丁 [@brown2017adversarial] 不碰模型，所以模型的 CA 不变（下表最后一列，以及下面的自检）；要报告的是补丁的
# 面积和它的定向/非定向成功率。

# %%
result.show("patch")

# %% [markdown]
# ## 代价：攻击者的与防御者的
#
# FGSM [@goodfellow2015explaining] 一步，PGD [@madry2018towards] 与逐图补丁走多步（步数写在下表的攻击名里）。攻击者的代价是计算量：
# 几种攻击与一次识别轮流计时，计单线程的 CPU 时间（机器上别的程序拉长的是墙钟时间，不是这个线程的 CPU 时间），
# 每一轮相除，取中位数；计时到结论能判定为止。

# %%
result.show("attack_cost")

# %%
result.show("defense_cost")

# %% tags=["hide-input"]
cost = {r["key"]: r for r in result.tables["attack_cost"].rows}
Markdown(
    "“攻击一般不考虑延迟和内存”只说对了一半：对一个不赶时间、只攻击一张图的攻击者，几毫秒无所谓；但攻击者的代价"
    "决定了他能攻击多少张图、能不能实时攻击视频流，以及黑盒场景下要付多少查询费用。在我们的模型上，每张图的查询次数从 "
    + "、".join(f"{k} {r['queries_per_image']:.0f} 次" for k, r in cost.items())
    + " 不等，计算时间从模型识别一张图的 "
    + "、".join(f"{r['times_inference']:.0f}" for r in cost.values()) + " 倍不等。"
)

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据（同一批图片上的配对检验、区间）判定：✓ 成立、✗ 不成立、? 证据不足。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q05                  # 与本页相同的 site 配置
# answers run q05 --profile tiny   # 几秒钟的小配置
# ```
