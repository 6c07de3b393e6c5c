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
# # q10 · 集成与多样化的架构能挡住后门吗？
#
# > **倪柯书**（大闭环助教采纳）：如何利用集成和多样化的模型架构来提高深度学习模型对抗后门攻击的安全性？
#
# *Ensembles and diverse architectures against backdoors*
#
# 助教只给了一篇参考文献：Su 等人 2018 [@su2018robustness] 对 18 个 ImageNet 模型的鲁棒性调研。那篇论文研究的是**对抗样本**
# （FGSM、I-FGSM、C&W、EAD 等攻击），不是后门：它发现对抗扰动的大小与分类错误率的对数近似成线性关系（越准的模型越容易被攻破），
# 架构比模型大小更重要，对抗样本大多只在同一家族的模型之间迁移（VGG 家族的例外，迁移得很好）。所以它回答的是另一个问题。
#
# 下面先在我们的尺度上重复它的两个测量（每种架构的干净准确率与 PGD 准确率、对抗样本在架构之间的迁移），再回答被问的问题：
# 同一份中毒数据训练出的四种架构各自中不中后门，它们的集成（logits 平均与多数投票）能不能挡住；以及真正有保证的集成——
# 分区聚合 DPA [@levine2021deep]。下面每个数字都是本页构建时测得的。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q10")

meta = result.meta
print(f"target class={meta['target']}, PGD L∞ ε={meta['eps'] * 255:.0f}/255")

# %% [markdown]
# ## 1. Su 等人的问题，在我们的尺度上
#
# 四种架构，同样的干净数据：三层的小卷积网、带残差连接的小 ResNet [@he2016deep]、没有卷积的多层感知机（MLP）、
# ConvMixer [@trockman2023patches]（先把图切成小块嵌入，再交替做逐通道的大核卷积和逐点卷积）。MLP 训练更多的 epoch
# （每批的计算少得多；epoch 数见表；解释，未另行测量：它没有卷积的权重共享，同样多的 epoch 学得更慢）。每种都受白盒 PGD
# [@madry2018towards] 攻击，再把每种架构上生成的对抗样本拿去攻击其他架构。

# %%
result.show("architectures")

# %%
result.show("transfer_heatmap")

# %%
result.show("transfer")

# %% tags=["hide-input"]
arch = {r["key"]: r for r in result.tables["architectures"].rows}
outcome = {c.id: c.outcome for c in result.claims}
acc = result.claim_values("accuracy_not_robustness")
tv = result.claim_values("examples_transfer")
transfer = result.get_claim("examples_transfer").evidence
most = max(arch, key=lambda k: arch[k]["clean_acc"])
least = min(arch, key=lambda k: arch[k]["clean_acc"])
Markdown(
    "干净准确率：" + "，".join(f"{k} {r['clean_acc']:.1%}" for k, r in arch.items())
    + "；PGD 下：" + "，".join(f"{k} {r['pgd_acc']:.0%}" for k, r in arch.items()) + "。"
    + (f"最准的 {most} 在 PGD 下反而比最不准的 {least} 更脆弱（{acc['pgd_most_accurate']:.0%} 对 {acc['pgd_least_accurate']:.0%}），"
       "与 Su 等人“越准的模型越容易被攻破”的方向一致；但只有四种架构、每种只训练了一次，这只是这几个模型上的一个方向，"
       "不是他们那样的拟合关系，"
       f"而且在这个攻击强度下，PGD 下的准确率最高也只有 {max(r['pgd_acc'] for r in arch.values()):.0%}。"
       if outcome["accuracy_not_robustness"] == "holds" else
       f"这一次最准的 {most} 在 PGD 下反而更鲁棒（{acc['pgd_most_accurate']:.0%} 对 {acc['pgd_least_accurate']:.0%}），"
       "与 Su 等人的方向不一致（只有四种架构，见判定表）。")
    + f"\n\n迁移：换一个架构后平均还有 {tv['transfer_acc']:.0%} 分对，同样大小的随机符号噪声下 {tv['noise_acc']:.0%}；"
    f"{tv['pairs']} 对组合中有 {tv['pairs_transferring']} 对的迁移样本显著比噪声更能骗过目标。"
    + ("对抗样本确实会迁移，但在这个扰动大小下效果远小于白盒攻击（对角线）："
       "这与 Su 等人“大多只在同一家族内迁移”相容；所以架构多样性对**迁移**攻击有一点用，对能直接攻击目标模型的攻击者没有用"
       "（后半句是解释：多样性对白盒攻击者无用，是因为他直接对目标求梯度，这里没有另行测量）。"
       if outcome["examples_transfer"] == "holds" else
       "显著超过噪声的只有 "
       + ("、".join(transfer.design["holding"]) or "（没有）")
       + f"；显著不如噪声的 {len(transfer.design['against'])} 对；其余 "
       f"{tv['pairs'] - tv['pairs_transferring'] - len(transfer.design['against'])} 对在这个样本量下与噪声分不开"
       "（没有显著差别，不等于没有差别）。"
       + ("所以“超过一半的组合会迁移”这一句这次既没有被证实，也没有被推翻（判定表里是 ?）。"
          if outcome["examples_transfer"] == "inconclusive" else
          "至少一半的组合显著不如噪声，“超过一半的组合会迁移”这一句不成立（判定表里是 ✗）。")
       +        "显著迁移的几对与课程引用的 Su 等人相容——他们看到迁移大多发生在同一家族的架构之间；而直接攻击目标模型的白盒 PGD"
       f"（对角线）下，准确率最高也只有 {max(r['pgd_acc'] for r in arch.values()):.0%}。"
       f"（解释，未另行测量：ε = {result.meta['eps'] * 255:.0f}/255 对这些小模型来说，别的架构上找到的方向未必是目标模型的弱点。）")
)

# %% [markdown]
# ## 2. 每种架构都见过同一份毒
#
# 同一份 BadNets 中毒数据（比例、触发器见下表标题）分别训练四种架构；集成有两种：四个模型的 logits 取平均，或多数投票。
# 最后一行是对照：只有小卷积网用中毒数据训练，其余三种用干净数据训练，再投票。

# %%
result.show("backdoors")

# %% tags=["hide-input"]
bd = {r["key"]: r for r in result.tables["backdoors"].rows}
Markdown(
    "四种架构各自的 ASR：" + "，".join(f"{k} {bd[k]['asr']:.0%}" for k in arch) + "；"
    f"logits 平均 {bd['average']['asr']:.0%}，多数投票 {bd['vote']['asr']:.0%}。"
    + ("在我们训练的四个模型上，后门不挑架构：卷积、残差、纯全连接、ConvMixer 各自都从同一份数据里学会了触发器"
       "（每个模型单独检验），集成只是把同一个后门投了四次票。"
       if outcome["diversity_keeps_backdoor"] == "holds"
       else "并不是每个模型或每种集成都显著保住了 90% 以上的 ASR（逐个检验的结果见判定表）。")
    + f"对照行：只有小卷积网见过毒、其余三个用干净数据训练时，投票的 ASR 是 {bd['one_poisoned']['asr']:.0%}"
    f"（小卷积网自己 {bd['small_cnn']['asr']:.0%}）。"
    "（解释，不是测得的结论：四票中只有一票被触发器带偏时，多数票不跟它走，这是投票的算术，所以这里不把它算作一条结论；"
    "要紧的是成员**有没有见过同一份毒**，这正是分区聚合的出发点。多样性本身有没有用，要和同一架构的四个成员比，这里没有做这个对照。）"
)

# %% [markdown]
# ## 3. 分区聚合 DPA：让每张毒图最多只影响一票
#
# DPA [@levine2021deep]：按每张训练图内容的哈希把训练集分成 k 份，每份从头训练一个模型，预测时多数投票（平票给编号小的类）。
# 一张毒图只落在一个分区里，只能影响一个成员；所以对每张测试图，若得票最多的类领先得足够多，就能**证明**：训练集里插入或删除
# 不超过 ρ 张图都改变不了投票，ρ = ⌊(第一名票数 − 第二名票数（平票规则计入）) / 2⌋。把一张图改成毒图（打触发器、改标签）相当于
# 删一张、插一张，算两次。
#
# 要让一个模型在**少量**毒图上就学会后门，这里用更大的触发器和更低的投毒比例（见下）。

# %% tags=["hide-input"]
Markdown(f"本节的投毒：{meta['dpa_ratio']:.1%} 的训练图（{meta['dpa_poisons']} 张），{meta['dpa_trigger']}×{meta['dpa_trigger']} 触发器，"
         f"目标类 {meta['target']}。")

# %%
result.show("partitions")

# %% [markdown]
# 分区聚合与单个模型的比较、少分区与多分区的比较，比的都是训练：一次运行的测试图说明不了换一个种子（另一份投毒、另一种划分、
# 另一次初始化）会怎样。所以两条结论都在几次独立运行之间判定，下表每一行是一次运行。

# %%
result.show("partition_runs")

# %% tags=["hide-input"]
pa = {r["key"]: r for r in result.tables["partitions"].rows}
ks = [r["k"] for r in result.tables["partitions"].rows if r["key"] != "single"]
kmax = f"k{ks[-1]}"
Markdown(
    f"一个模型用全部数据训练：CA {pa['single']['ca']:.1%}，ASR {pa['single']['asr']:.0%}。分区聚合："
    + "；".join(f"k = {r['k']}：CA {r['ca']:.1%}，ASR {r['asr']:.0%}，成员平均 CA {r['member_ca']:.1%}，"
                f"中位证书 {r['median_certified']:.0f} 次改动"
                for r in result.tables["partitions"].rows if r["key"] != "single") + "。"
    + (f"k = {ks[-1]} 时投票的 ASR 降到 {pa[kmax]['asr']:.0%}（单个模型 {pa['single']['asr']:.0%}）：每个成员分到的毒图更少，"
       f"{ks[-1]} 个成员里有 {pa[kmax]['poisoned_members']} 个分到了毒图（解释，未逐个成员测量：每个成员分到的毒图太少，"
       "多半学不会后门，投票就不被触发器左右）；"
       if outcome["partitions_lower_asr"] == "holds" else "这一次分区聚合没有压低 ASR（见判定表）；")
    + ("代价是每个成员只看 1/k 的数据，干净准确率下降，推理时每张图要调用 k 个模型。"
       if outcome["partitions_cost_accuracy"] == "holds" else "干净准确率的代价这一次不明显（见判定表）。")
    + f"\n\n要分清两件事：ASR 的下降是**测**出来的；证书说的是另一件事——中位数只有 {pa[kmax]['median_certified']:.0f} 次改动，"
    f"而这里的攻击者改了 {meta['dpa_poisons']} 张图（{2 * meta['dpa_poisons']} 次改动）。证书最多只有 ⌊k/2⌋，要证明挡得住这么多毒，"
    f"k 至少要 {4 * meta['dpa_poisons']}（全票时），每个成员只剩约 {meta['n_train'] // (4 * meta['dpa_poisons'])} 张训练图。"
    "DPA 的保证适用于毒图很少的情形；毒图多时，ASR 的下降不是证书给的（解释：多半是每个成员分到的毒图太少）。"
)

# %% [markdown]
# ## 回答
#
# 下面两条按本页的判定写出（判定表见下一节）。

# %% tags=["hide-input"]
Markdown(
    ("* **多样化的架构本身挡不住后门**：我们训练的每种架构都从中毒数据里学会了触发器，它们的集成也一样。"
     if outcome["diversity_keeps_backdoor"] == "holds" else
     "* **多样化的架构**：这一次没有判定每种架构和集成都保住了后门（见判定表）。")
    + "Su 等人的结论（架构影响对抗鲁棒性，对抗样本难以跨家族迁移）说的是对抗样本，不能直接搬到后门上。\n"
    + ("* **有用的集成是切开数据的集成**：让每个成员只见到一部分训练数据，一张毒图最多影响一票；分区聚合压低了 ASR、"
       "能给出可证明的保证，"
       if outcome["partitions_lower_asr"] == "holds" else
       "* **切开数据的集成**：这一次分区聚合没有被判定压低了 ASR（见判定表）；它仍能给出可证明的保证，")
    + ("代价是干净准确率" if outcome["partitions_cost_accuracy"] == "holds" else "干净准确率的代价这一次没有被判定")
    + "和 k 倍的推理开销，而保证只覆盖很少的毒图（中位证书见上）。\n"
    + "* 去除已经植入的后门（微调、剪枝、注意力蒸馏）见 [q09](../q09-defense-by-retraining/)。"
)

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据（同一批测试图上的配对检验、区间）判定：✓ 成立、✗ 不成立、? 证据不足。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q10                  # 与本页相同的 site 配置
# answers run q10 --profile tiny   # 几秒钟的小配置
# ```
