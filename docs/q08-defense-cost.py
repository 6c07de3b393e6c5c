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
# # q08 · 防御会拖慢识别、多耗资源吗？
#
# > **黄兆辉**（大闭环助教采纳）：防御图像识别攻击是否会对识别速度和资源消耗产生影响？如何平衡安全性和性能之间的关系？
#
# *Does defending an image classifier slow it down and cost resources, and how should security be balanced
# against speed?*
#
# **简短回答：会，而且代价差别极大。** 输入预处理每张图只多一次变换；随机平滑 [@cohen2019certified] 每张图要调用模型 N 次；
# PatchCleanser [@xiang2022patchcleanser] 至少 k² 次、最坏接近 k⁴ 次；对抗训练 [@madry2018towards] 推理不多调用模型，
# 却把代价转移到训练上。下面所有数字都是本页构建时，在同一个分类器、同一台机器上测得的。
#
# ## 实验设置
#
# 数据是程序生成的 32×32 交通标志式图案（10 类，无需下载）；分类器是一个小 CNN，训练时加入了高斯噪声和随机遮挡
# （这样随机平滑和遮挡类防御才有意义）；对抗训练的模型是它在 PGD 样本上继续微调的结果。被比较的防御：JPEG 重编码
# [@guo2018countering]、中值滤波与位深压缩 [@xu2018feature]、像素偏转 [@prakash2018deflecting]、随机平滑
# [@cohen2019certified]、PatchCleanser [@xiang2022patchcleanser]，以及训练侧的 PGD 对抗训练 [@madry2018towards]。
# 补丁攻击按 [@brown2017adversarial] 的思路在随机位置优化一个小方块。每种防御都包在**同一个**分类器外面，用同一套计时工具：
# 预热、重复、取中位数，固定线程数；模型调用次数由挂在模型上的 forward hook **计数**得到，而不是按公式推算。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q08")

print(f"model={result.meta['train']}")

# %% [markdown]
# ## 推理侧：每种防御的代价，和它换来的鲁棒性
#
# 延迟是每张图片的中位数（批大小 1 与批内两种情形），延迟倍数相对无防御，模型调用次数是实测的，峰值内存是一次批量调用中张量内存的峰值。

# %%
result.show("inference", ["防御 defense", "latency_b1_ms", "latency_batch_ms", "latency_multiplier", "throughput",
                          "peak_mb", "calls_per_image"])

# %% [markdown]
# 鲁棒性一栏写明了威胁模型和攻击者：预处理防御、随机平滑和 PatchCleanser 面对的是**不知道防御存在**的攻击者
# （非自适应；知道防御的自适应攻击见 [q03](../q03-proactive-defense/)，[@athalye2018obfuscated]），
# 对抗训练的模型面对的是直接攻击它自己的白盒 PGD。两类数字不能直接比较：非自适应的收益是上限，不是保证。

# %%
result.show("inference", ["防御 defense", "clean_acc", "clean_cost", "threat", "attacker", "robust_acc",
                          "undefended_robust_acc", "gain", "abstain_rate", "vote_acc"])

# %% tags=["hide-input"]
inf = {r["key"]: r for r in result.tables["inference"].rows}
sm = inf["smoothing"]
Markdown(
    f"随机平滑的“干净准确率损失”要分开看：它的多数票本身（不弃权）在干净图片上的准确率是 {sm['vote_acc']:.1%}"
    f"（基础模型 {inf['none']['clean_acc']:.1%}），而按 Cohen 等的规则，两类票数不能在 α={result.meta['smooth_alpha']:g} 下显著区分时它会**弃权**"
    f"（本次 {sm['abstain_rate']:.1%} 的图片），弃权算错。所以它的损失里有 {max(0.0, sm['vote_acc'] - sm['clean_acc']):.1%} "
    "来自弃权，而不是判断错误。"
)

# %% [markdown]
# 非自适应的对抗样本很脆弱：对输入做**任何**改动都可能抵消一部分扰动。所以上表里预处理“换来”的鲁棒性要和一个对照比：
# 给输入加高斯噪声，取干净准确率代价不超过该防御的最强噪声（在一半测试图上量代价、选 σ），再在另一半测试图上看同一批对抗样本。
# 只有比这个对照强，才能说是 JPEG 或中值滤波本身在起作用，而不只是“改了输入”。

# %%
result.show("noise_control")

# %% [markdown]
# 对抗训练是一种**训练方法**，一次训练的结果可能只是那一个种子的运气。所以“它换来了 L∞ 鲁棒性”不按同一批测试图来判，
# 而按独立的训练来判：每一次用自己的种子生成数据、训练基础模型和它的 PGD-AT 版本，再各自受白盒 PGD 攻击。

# %%
result.show("at_runs")

# %%
result.show("pareto")

# %% [markdown]
# 图中横轴是延迟倍数（对数），纵轴是在各自威胁模型下多保住的准确率；圆点是对不知情攻击者的收益，方块是对白盒攻击者的收益。
#
# ### 随机平滑：多花的调用换来多大的认证半径？
#
# 随机平滑的预测只需要 N 次带噪声的调用；**认证**（给出一个可证明的 L2 半径）则按 Cohen 等人的 CERTIFY 过程
# [@cohen2019certified] 先用少量样本猜类别，再用 N 个样本估计置信下界。N 是安全与速度之间最直接的旋钮；
# 注意 N 个样本能认证的半径有一个只由 σ、N、α 决定的上限（表中“最大半径”一列）：

# %%
result.show("smoothing")

# %% [markdown]
# ## PatchCleanser 到底要推理几次？——更正课程中的“九次”
#
# 课程原文说 PatchCleanser“需要至少 inference 一张图片九次”。九次只对应 3×3 的掩码集；论文的默认设置是 6×6 = 36 个掩码
# [@xiang2022patchcleanser]。双重遮挡（double masking）的流程是：第一轮用 k² 个单掩码图像投票；只有与多数票不一致的掩码才进入第二轮，
# 每个最多再调用 k² 次。所以最坏情况是 k² + (k² − ⌈k²/C⌉)·k² 次（C 为类别数）；而**认证**一张图需要全部 k²(k²+1)/2 个双掩码预测。
# 下表全部是插桩计数：最坏情况一列来自一个专门构造成“处处不一致”的模型。

# %%
result.show("patchcleanser", ["k", "masks", "mask_px", "min_calls", "mean_calls", "max_calls", "first_round_only",
                              "worst_case_formula", "worst_case_counted", "cert_calls_per_image", "cert_formula"])

# %% tags=["hide-input"]
pc = {r["k"]: r for r in result.tables["patchcleanser"].rows}
many_classes = result.claim_values("worst_case_many_classes")["counted_40_classes"]
Markdown(
    f"实测：k=3 时每张图最少 **{pc[3]['min_calls']}** 次（课程说的“九次”）；论文默认的 k=6 最少 **{pc[6]['min_calls']}** 次，"
    f"平均 **{pc[6]['mean_calls']:.1f}** 次，{pc[6]['first_round_only']:.0%} 的图片第一轮就结束；"
    f"最坏情况 **{pc[6]['worst_case_counted']:,}** 次（{result.meta['num_classes']} 类；类别数 ≥ 36 时为 **{many_classes:,}** 次）；"
    f"认证一张图 **{pc[6]['cert_calls_per_image']:,.0f}** 次。"
)

# %%
result.show("calls_distribution")

# %%
result.show("calls_vs_k")

# %%
result.show("latency_vs_calls")

# %%
result.show("patchcleanser", ["k", "mask_px", "mask_area", "pc_acc", "two_mask_acc", "certified_acc",
                              "latency_b1_ms"])

# %% tags=["hide-input"]
paper = result.meta["paper_mask"]
Markdown(
    f"**测量：** 在我们的小 CNN 上，k=6 的认证准确率是 **{pc[6]['certified_acc']:.0%}**；"
    f"在（不知道防御存在的）{result.meta['patch']}×{result.meta['patch']} 补丁攻击下，PatchCleanser 的准确率为 "
    f"{inf['patchcleanser']['robust_acc']:.0%}，无防御模型为 {inf['patchcleanser']['undefended_robust_acc']:.0%}。"
    f"认证要求**全部** {pc[6]['cert_formula']} 个双掩码图像都分类正确：单个双掩码预测的准确率是 {pc[6]['two_mask_acc']:.0%}，"
    f"但只要有一对出错，这张图就不能认证。差距不在掩码的相对大小：按论文的主设置（{paper['image']}×{paper['image']} 图像、"
    f"{paper['patch']} 像素补丁、k=6），我们的掩码算法给出 {paper['mask_px']}×{paper['mask_px']} 的掩码，占图像面积 "
    f"{paper['mask_area']:.1%}，补丁占 {paper['patch_area']:.1%}；我们的掩码占 {pc[6]['mask_area']:.1%}、补丁占 "
    f"{paper['our_patch_area']:.1%}——相对图像来说论文的补丁和掩码反而更大。论文的认证准确率高得多 [@xiang2022patchcleanser]，"
    "（解释，本页没有测量：论文的基础模型是在 ImageNet 上训练的大模型，被遮住一大块时多半仍能认对。）"
    "PatchCleanser 的推理代价（k² 起步的调用次数）由掩码集决定、与模型无关（上面的计数）；它能换来多少鲁棒性，"
    "本页只在一个模型上测过（解释，未测量：多半取决于基础模型在遮挡下有多准）。"
)

# %% [markdown]
# 两种实现——逐掩码循环（每次调用一张图）与批量实现（一轮的所有掩码图像一次前向）——必须给出完全相同的预测和认证结果；
# 批量实现按“波次”执行第二轮，调用集合与循环完全相同，只是合并成大批次。两者在同一次运行中轮流计时：问的是延迟，
# 所以计墙钟时间；每一轮两者相除，结论按这些逐轮之比判定（符号检验与中位数的置信区间），计时到能判定为止。

# %%
result.show("loop_vs_batched")

# %% [markdown]
# ## 训练侧：重训练、剪枝和对抗训练要多花多少时间？
#
# 课程说模型侧防御“都会有更多的时间需求”、对抗训练“也会慢很多”，但没给数字。下表把每种训练侧防御的耗时表示为
# **一个正常训练 epoch 的倍数**：每一行都从同样的权重开始，预热一轮后与其他行轮流计时，每一轮都除以同一轮的正常 epoch，
# 取中位数。问的是计算量，所以计单线程的 CPU 时间——机器上同时跑着别的程序时，墙钟时间会被拉长，这个线程的 CPU 时间
# 不会（表里也列出墙钟时间之比）；计时到结论能判定为止，轮数有事先定下的上限（用了几轮写在各结论的证据里）。

# %%
result.show("training")

# %% [markdown]
# ### 更正：课程中 q08 的引用对应关系是错位的
#
# 课程写“Fine-Tune[3]”“重训练最后一层[2]”“preprocessing[5]”“神经元控制[4]”，但这几篇文献实际做的是：
#
# * [3] ANP [@wu2021adversarial] 是**剪枝**：对神经元（而不是输入）施加对抗扰动，找出对这种扰动敏感的神经元并剪掉，不是微调；
# * [2] Fine-pruning [@liu2018fine] 是**剪枝 + 微调**：先剪掉在干净数据上不活跃的神经元，再微调整个网络（不只是最后一层）；
# * [5] ConFoc [@villarrealvasquez2020confoc] 的核心是用风格迁移后的图像**重新训练**模型，让它只看内容、不看风格；
#   它在推理时也会先把输入图像变换一次再分类，所以课程把它归为图像侧的 preprocessing 只说对了一半——它首先是一种模型侧的重训练；
# * [4] Activation Clustering [@chen2018detecting] 是一种**检测**方法：对激活做聚类找出被投毒的样本，而不是“神经元控制”。

# %% [markdown]
# ## 如何平衡安全与性能？
#
# 用上面的实测数字来回答（数字随本次构建而来）：

# %% tags=["hide-input"]
train = {r["key"]: r for r in result.tables["training"].rows}
best_pre = max((inf[k] for k in ("jpeg", "median", "bit_depth", "deflection")), key=lambda r: r["gain"])
Markdown(
    f"1. **把代价挪到训练阶段。** 对抗训练的模型每张图仍只调用 {inf['pgd_at']['calls_per_image']:.0f} 次模型（延迟为无防御的 {inf['pgd_at']['latency_multiplier']:.2f} 倍），"
    f"白盒 PGD 下准确率 {inf['pgd_at']['robust_acc']:.0%}（无防御 {inf['none']['robust_acc']:.0%}），"
    f"干净准确率变化 {-inf['pgd_at']['clean_cost'] * 100:+.1f} 个百分点；代价在训练：按 Madry 等人的设置，每个 "
    f"{result.meta['at_steps']} 步 PGD 的 epoch 是正常 epoch 的 {train['pgd_at7']['ratio_to_normal_epoch']:.1f} 倍（计算量）"
    + (f"；本页部署的模型为了构建时间只用了 {result.meta['deployed_at_steps']} 步（按次数估计，每个小批量 "
       f"{result.meta['deployed_at_steps'] + 1} 次前向+反向，没有单独计时）"
       if result.meta["deployed_at_steps"] != result.meta["at_steps"] else "")
    + "。\n"
    f"2. **便宜的预处理只防“不知情”的攻击者。** 预处理中换来最多的是 {best_pre['防御 defense']}"
    f"（{best_pre['latency_multiplier']:.1f} 倍延迟，{best_pre['gain'] * 100:+.0f} 点），但这是对非自适应攻击而言；"
    "攻击者把预处理纳入梯度（BPDA/EOT）后的结果见 "
    f"[q03](../q03-proactive-defense/) [@athalye2018obfuscated]。\n"
    f"3. **可认证的防御按模型调用次数付费。** 随机平滑每张图 {inf['smoothing']['calls_per_image']:.0f} 次调用"
    f"（延迟 {inf['smoothing']['latency_multiplier']:.0f} 倍），PatchCleanser (k=6) 平均 {pc[6]['mean_calls']:.0f} 次"
    f"（延迟 {inf['patchcleanser']['latency_multiplier']:.0f} 倍）；逐图延迟与调用次数见上图。可调的旋钮是 N 和 k："
    f"k 从 6 降到 3，平均调用从 {pc[6]['mean_calls']:.0f} 降到 {pc[3]['mean_calls']:.0f} 次，掩码从 {pc[6]['mask_px']} 像素变为 "
    f"{pc[3]['mask_px']} 像素，准确率从 {pc[6]['pc_acc']:.0%} 变为 {pc[3]['pc_acc']:.0%}。\n"
    f"4. **只在需要时多算。** 双重遮挡中 {pc[6]['first_round_only']:.0%} 的图片第一轮即结束，昂贵的第二轮只花在有分歧的图片上；"
    f"把一轮的掩码图像合成一个批次计算，在各个 k 上测得的速度比是 {min(r['speedup'] for r in result.tables['loop_vs_batched'].rows):.1f}–"
    f"{max(r['speedup'] for r in result.tables['loop_vs_batched'].rows):.1f} 倍（批次对逐个，上表；作判定的只有论文默认的 k=6，见判定表）。认证（k²(k²+1)/2 次）是评估时的开销，"
    "部署时不必每张图都做。"
)

# %% [markdown]
# ## 结论与自检
#
# **结论**是关于世界的陈述，在本页的配置下由测得的数值、一条写明的规则和统计证据判定（✓ 成立、✗ 不成立、? 证据不足）；
# **自检**是代码的不变量（插桩计数等于公式、两种实现一致），在任何配置下都必须成立。建站时任何一条不符合都会让构建失败。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q08                  # 与本页相同的 site 配置
# answers run q08 --profile tiny   # 几秒钟的小配置
# answers run q08 --json           # 机器可读：每条结论的类型、数值、证据与判定
# ```
#
# 本页源文件可在页首下载，它本身就是一个 jupytext 笔记本。
