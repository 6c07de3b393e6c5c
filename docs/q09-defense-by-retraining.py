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
# # q09 · 能不能靠（再）训练模型来防御？
#
# > **石雨宸**（大闭环助教采纳）：请问图像识别系统的防御是否可以通过模型训练来实现？迁移学习、集成学习和强化学习等技术是否可以应用于图像识别的防御？
#
# *Defending by (re)training: what repairs a backdoored model, and what its clean set must be*
#
# 助教的回答：可以——针对后门攻击，有微调神经元的防御 [@li2021neural]，也有重新训练部分模型的方法；但这些方法通常只用来
# 防后门，因为对抗补丁并不修改模型，“通过修改模型来防御一个不修改模型的攻击是不常见的”；而且再训练几乎都需要一小份人工验看过的
# “干净”数据，人工验看也挡不住不改标签的投毒 [@turner2019label]。助教还说，注意力蒸馏（NAD）“既可以确保模型中的已知后门被消除，
# 也可以保证 Clean Accuracy”。
#
# 下面把这些话逐条放到同一个后门模型上量一遍：四种修复（三种重新训练权重，ANP 只学习掩码后剪枝）× 几种大小的干净集；“干净”集里混进不改标签的投毒会怎样；
# 再训练之前能不能先把毒找出来；再训练对通用补丁有没有用；迁移学习的做法（只重训最后一层）会不会留下后门。
# 集成学习与强化学习放在最后。下面每个数字都是本页构建时测得的。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q09")

meta = result.meta
print(f"target class={meta['target']}, "
      f"{meta['poison_ratio']:.0%} of the training set poisoned, trigger {meta['trigger']}×{meta['trigger']}")

# %% [markdown]
# ## 1. 修复一个后门模型：四种修复 × 几种大小的干净集
#
# 被修复的是模型库里的 BadNets 后门模型 [@gu2019badnets]（一部分训练图打上右下角的黑白棋盘格、标签改成目标类，比例和大小见
# 上面的输出）。防御者手里有一小份干净数据（从没被投毒的训练图中抽取，大小见表中 clean_fraction，小的集合包含在大的里面），
# 四种修复都只用它：
#
# * **微调**：在干净集上接着训练整个模型；
# * **剪枝后微调（fine-pruning）** [@liu2018fine]：先按干净数据上的平均激活从小到大剪掉最后一个卷积层的通道（干净集准确率快要掉过设定的预算时就停，
#   预算见下），再微调；
# * **注意力蒸馏 NAD** [@li2021neural]：先把模型在干净集上微调成“教师”，再让原模型（“学生”）在干净集上训练，同时让它三个卷积块的
#   注意力图（各通道激活平方的均值，按图归一化）贴近教师的；
# * **对抗神经元剪枝 ANP** [@wu2021adversarial]：给每个批归一化神经元一个 0–1 的掩码，在干净集上学习它，使模型在神经元被
#   最坏地按比例扰动时仍然分得对；再按掩码从小到大剪枝，同样在干净集准确率掉过预算前停下。
#
# 三种重新训练权重的修复都用同一个学习率日程（仿 NAD 代码：前几个 epoch 用较大的学习率，之后降到十分之一）。代价是修复用时除以
# 同一次运行中测得的一个正常训练 epoch 的用时，以及修复过程中经过模型的图片数除以训练集大小。

# %% tags=["hide-input"]
Markdown(f"本次设置：学习率 {meta['lr']:g}，{meta['drop_after']} 个 epoch 后降到 {meta['lr'] / 10:g}（NAD 的代码是 0.1 → 0.01）；"
         f"两种剪枝都在干净集准确率下降超过 {meta['prune_budget'] * 100:.0f} 个百分点前停下（结论里“留下后门的大部分”指修复后的 "
         f"ASR 超过修复前的一半；我们也数出 ASR 降到 {meta['repaired_asr']:.0%} 以下——每一百张带触发器的图里不到 {meta['repaired_asr'] * 100:.0f} 张还被送到目标类——"
         f"的次数）。ANP 的扰动上界 ±{meta['anp_eps']:g} 是论文的默认值；掩码学习 {meta['anp_steps']} 步、"
         f"每批 {meta['anp_batch']} 张（论文代码 2000 步、每批 128 张），停止规则（按干净集准确率）是我们的——论文按预先定好的掩码阈值（或剪枝个数）停下，"
         "没有说不知道触发器时怎样选它，而不知道触发器的防御者只能看干净准确率。")

# %%
result.show("repairs")

# %%
result.show("asr_vs_clean")

# %% tags=["hide-input"]
rows = {r["key"]: r for r in result.tables["repairs"].rows}
fr = sorted({r["clean_fraction"] for r in rows.values() if r["clean_fraction"] > 0})
big, small = fr[-1], fr[0]
at = lambda key, f: rows[f"{key}@{f:g}"]
outcome = result.outcomes
none = rows["none"]
names = {"fine_tune": "微调", "fine_prune": "剪枝后微调", "nad": "NAD", "anp": "ANP"}
best = min(names, key=lambda k: at(k, big)["asr"])
dearest = max(names, key=lambda k: at(k, big)["time_vs_epoch"])
Markdown(
    f"后门模型的 CA 是 {none['ca']:.1%}，ASR 是 {none['asr']:.0%}。在 {big:.0%} 的干净数据上修复后的 ASR："
    + "，".join(f"{names[k]} {at(k, big)['asr']:.0%}" for k in names) + f"；ASR 最低的是 **{names[best]}**。"
    + (f"单纯微调几乎不动后门（{at('fine_tune', big)['asr']:.0%}；下一节的每一次独立运行也是如此）。（解释，未单独测量："
       "干净数据里没有触发器，训练不会去改“触发器 → 目标类”这条路。）"
       if outcome["fine_tune_leaves_backdoor"] == "holds" else "")
    + f"这一次运行里，NAD 把 ASR 从 {none['asr']:.0%} 降到 {at('nad', big)['asr']:.0%}，CA 变化 "
    f"{(at('nad', big)['ca'] - none['ca']) * 100:+.1f} 个百分点，RA 为 {at('nad', big)['ra']:.0%}。"
    "一次运行说明不了一种修复是否有效：下一节把它们各自重复几次。"
    + f"\n\n干净集大小的影响逐种修复看（不合并成一个检验，各修复走向不同）：{small:.0%} 的干净集上，"
    + "，".join(f"{names[k]}之后 ASR {at(k, small)['asr']:.0%}（{big:.0%} 时 {at(k, big)['asr']:.0%}）" for k in names) + "。"
    + "".join(f"{names[k]}在 {small:.0%} 的干净集上 CA 掉到 {at(k, small)['ca']:.1%}"
              + ("——只凭这么少的数据判断“准确率没掉”太粗糙。" if k in ("fine_prune", "anp")
                 else "——（解释，未测量：在这么少的图片上以较大的学习率训练，模型会过拟合它们。）")
              for k in names if at(k, small)["ca"] < none["ca"] - meta["ca_margin"])
    + f"\n\n代价：在 {big:.0%} 的数据上最贵的是 {names[dearest]}，花了 {at(dearest, big)['time_vs_epoch']:.1f} 个正常 epoch 的时间；"
    + "，".join(f"{names[k]} {at(k, big)['time_vs_epoch']:.1f} 个" for k in names if k != dearest)
    + f"。从头重新训练这个模型要 {meta['train_epochs']} 个 epoch，而且需要一整套干净数据。"
)

# %% [markdown]
# ### 每种修复可靠吗：独立运行
#
# 修复的结果取决于后门模型本身（换一个种子，数据、初始化、训练顺序都不同），也取决于修复自己的随机性（剪枝与蒸馏的
# 批次、ANP 的扰动）。所以“某种修复有效吗”以**一次独立运行**为单位判定：每次运行用自己的种子生成数据、训练一个后门模型，
# 再用同一个种子在最大的干净集上修复（run 0 就是上面的模型）。

# %%
result.show("repair_runs")

# %% tags=["hide-input"]
runs = result.tables["repair_runs"].rows
left = {k: [r["asr_after"] / r["asr_before"] for r in runs if r["key"] == k] for k in [*names, *(f"{p}_at_bound" for p in ("fine_prune", "anp"))]}
ahead = {k: sum(a > b for a, b in zip(left[k], left["nad"])) for k in ("anp", "fine_prune_at_bound", "anp_at_bound")}
spent = {k: sum(r["ca_drop"] for r in runs if r["key"] == key) / len({r["run"] for r in runs})
         for k, key in (("nad", "nad"), ("fine_prune", "fine_prune_at_bound"), ("anp", "anp_at_bound"))}
n_runs = len({r["run"] for r in runs})
Markdown(
    f"{n_runs} 次独立运行中，修复后的 ASR 占修复前的比例：" + "；".join(
        f"{names[k]} " + "、".join(f"{v:.0%}" for v in left[k]) for k in ("fine_prune", "anp", "nad")) + "。"
    + ("剪枝后微调每一次都留下了后门的大部分。" if outcome["fine_prune_leaves_backdoor"] == "holds"
       else "剪枝后微调这一次没有每次都留下后门的大部分（见判定表）。")
    + f"ANP 修复后留下的比例在 {min(left['anp']):.0%}–{max(left['anp']):.0%} 之间。"
    + (f"按各自的默认设置，NAD 每一次都比剪枝后微调去掉得多，但它留下多少随运行而变（{min(left['nad']):.0%}–{max(left['nad']):.0%}）："
       "助教说 NAD “确保已知后门被消除”——在我们的模型上它不能“确保”；它的干净准确率代价每次都远小于把模型毁掉。"
       if outcome["nad_beats_fine_pruning"] == "holds" else "按各自的默认设置，NAD 没有每次都比剪枝后微调去掉得多（见判定表）。")
    + f"与 ANP 比，NAD 在 {ahead['anp']} 次运行里去掉得更多。剪枝有准确率预算（{meta['prune_budget']:.0%}）、NAD 没有，"
    f"所以每次运行再让两种剪枝在 NAD 必须守住的同一上限内各做一次（表中“预算放宽到 {meta['nad_ca_bound']:.0%}”两行）："
    f"那样 NAD 比剪枝后微调去掉得多的有 {ahead['fine_prune_at_bound']} 次、比 ANP 多的有 {ahead['anp_at_bound']} 次，"
    f"它们的 CA 平均下降 {spent['fine_prune']:.1%} 与 {spent['anp']:.1%}（NAD {spent['nad']:.1%}）。"
    "与 ANP 的比较在不同 CPU 的舍入下结果不同（我们在三种内核级别下各跑过一次，见 README），所以这些只展示、不下结论。"
    + ("\n\n（解释，未单独测量：剪枝后微调剪的是在干净数据上不活跃的通道，而我们的触发器很小、很显眼，由仍然活跃的通道承载；"
       f"ANP 在干净集准确率下降 {meta['prune_budget'] * 100:.0f} 个百分点前就停下，只剪掉很少的神经元——论文用预先定好的掩码阈值，"
       "并对已知触发器画出不同阈值下 ASR 与准确率的折中；不知道触发器的防御者只能看干净准确率。）")
)

# %% [markdown]
# ## 2. “干净”集不干净：不改标签的投毒
#
# Turner 等人 [@turner2019label] 的 clean-label 投毒：攻击者只动**目标类**的图片，先用自己的模型做对抗扰动，让图片的内容
# 变得难学，再打上触发器，标签一个不改。核对标签的人挑不出错；不过我们用的是全幅的黑白棋盘格触发器，细看图片的人能看见它
# （Turner 等人也试过降低触发器的幅度让它更难看见，本页没有做，也没有测人工验看本身）。做法简化自 Turner 等人：用攻击者自己的
# 另一个模型做 L∞ 对抗扰动，触发器与后门模型的相同；把一个干净集里的一部分目标类图片换成这种投毒，其余不变，再把四种修复跑一遍。

# %% tags=["hide-input"]
Markdown(f"本次设置：干净集占训练集的 {meta['clean_label_set']:.0%}，其中 {meta['clean_label_share']:.0%} 的目标类图片被投毒，"
         f"扰动半径 L∞ ε = {meta['clean_label_eps'] * 255:.0f}/255。")

# %%
result.show("clean_label_images")

# %%
result.show("clean_label")

# %% [markdown]
# NAD 的效果随后门模型和修复自身的随机性而变（第 1b 节），所以“混入投毒后 NAD 留下了后门”也在独立运行之间判定：每次运行用该次的
# 后门模型、该次的干净集和攻击者自己的模型（同一配方、该次的种子）各做一遍。

# %%
result.show("clean_label_runs")

# %% tags=["hide-input"]
cl = {r["key"]: r for r in result.tables["clean_label"].rows}
stamped = result.claim_values("clean_label_keeps_labels")
cl_runs = result.tables["clean_label_runs"].rows
higher = sum(r["asr_poisoned_set"] > r["asr_clean_set"] for r in cl_runs)
Markdown(
    "混入投毒后，修复后的 ASR："
    + "；".join(f"{names[k]} {r['asr_clean_set']:.0%} → **{r['asr_poisoned_set']:.0%}**" for k, r in cl.items())
    + "。"
    + (f"助教点名的 NAD：混入只占集合 {stamped['stamped'] / stamped['n']:.0%} 的投毒图后，{len(cl_runs)} 次独立运行每一次都"
       f"留下了后门的大部分（修复后的 ASR：{'、'.join(format(r['asr_poisoned_set'], '.0%') for r in cl_runs)}）。"
       f"对照——同样大小、真正干净的集合上 NAD 之后是 {'、'.join(format(r['asr_clean_set'], '.0%') for r in cl_runs)}，"
       f"{len(cl_runs)} 次里有 {higher} 次混入投毒后更高；NAD 在干净集合上能去掉多少本身就随运行变化很大，"
       "所以本页只判定“混入投毒后留下了后门”，不判定投毒抵消了多少。"
       "（解释，未另行测量：模型在“干净”数据上又学到了“有触发器 → 目标类”。）这批投毒图的标签全都正确（见自检），"
       "只核对标签发现不了它们。助教的提醒是：再训练类防御的前提（一份可信的干净集）恰恰是攻击者可以污染的；本页测到的是，"
       "用这样一份被污染的集合修复，每一次都留下了后门的大部分。"
       if outcome["poisoned_clean_set_leaves_backdoor"] == "holds" else "这一次测量没有显示混入投毒后 NAD 每次都留下后门（见判定表）。")
)

# %% [markdown]
# ## 3. 再训练之前先找毒：激活聚类
#
# 激活聚类 [@chen2018detecting]：用（可能中毒的）模型提取每张训练图在最后一个隐藏层的激活，按标签分组，降维后分成两簇。
# 投毒图虽然标签是目标类，模型“看”它们的方式却与真正的目标类图片不同，所以会自成一簇。论文用 ICA 降维，主要靠“排除后重新分类”
# 判断哪一簇是毒（去掉这一簇重新训练，再看模型把它分到哪一类）；我们用 IBM ART 工具包的默认做法——PCA 降维。ART 实现了四种
# 不需要重新训练的判据（smaller、relative-size、silhouette-scores、distance），我们用其中三种：每个标签都取较小的一簇（ART 的默认）；
# 只有较小一簇占该标签的比例低于一个阈值时才算（相对大小）；再要求两簇分得够开（轮廓系数高于一个阈值）。第四种（distance，
# 比较簇中心到其它标签中心的距离）没有实现。

# %% tags=["hide-input"]
Markdown(f"本次设置：{meta['ac_dims']} 个主成分；相对大小阈值 {meta['size_threshold']:.0%}，轮廓系数阈值 "
         f"{meta['silhouette_threshold']:g}（都是 ART 的默认值）。")

# %%
result.show("ac_labels")

# %%
result.show("ac_rules")

# %% tags=["hide-input"]
ac = {r["label"]: r for r in result.tables["ac_labels"].rows}
tgt = ac[meta["target"]]
rules = {r["key"]: r for r in result.tables["ac_rules"].rows}
share = tgt["poison"] / tgt["images"]
Markdown(
    f"目标类 {meta['target']} 的 {tgt['images']} 张训练图里有 {tgt['poison']} 张是毒，较小一簇占 {tgt['smaller_share']:.0%}，"
    f"其中 {tgt['poison_in_smaller']} 张是毒；它的轮廓系数 {tgt['silhouette']:.2f}，其他标签在 "
    f"{min(r['silhouette'] for k, r in ac.items() if k != meta['target']):.2f}–"
    f"{max(r['silhouette'] for k, r in ac.items() if k != meta['target']):.2f} 之间。"
    f"“每个标签取较小一簇”找到了 {rules['smaller']['recall']:.0%} 的毒，但精确率只有 {rules['smaller']['precision']:.0%}"
    f"（把 {rules['smaller']['flagged']} 张图都标成了毒）；相对大小判据的精确率是 {rules['relative_size']['precision']:.0%}、"
    f"召回率 {rules['relative_size']['recall']:.0%}。\n\n"
    f"相对大小判据取决于毒占目标类的比例：这里毒占 {share:.0%}（{meta['poison_ratio']:.0%} 的投毒全部集中到一类），"
    f"目标类较小的一簇占 {tgt['smaller_share']:.0%}，阈值是 {meta['size_threshold']:.0%}。"
    + (f"较小一簇比阈值低 {(meta['size_threshold'] - tgt['smaller_share']) * 100:.0f} 个百分点；一旦它超过阈值"
       "（毒占目标类的比例更高时），相对大小判据就不再把它算作毒。" if tgt["smaller_share"] < meta["size_threshold"]
       else "较小的一簇已经超过了阈值，相对大小判据不把它算作毒，一张也没找到。")
    + ("激活聚类确实把毒分了出来（见判定表）；但“哪一簇是毒”的判据需要对投毒比例有预期。"
       if outcome["ac_separates_poison"] == "holds" else "这一次激活聚类没有把毒干净地分出来（见判定表）。")
    + "论文建议找到之后删掉这些图（或改回标签）再训练——本页没有测这一步；它的前提仍是模型的训练数据在防御者手里。"
)

# %% [markdown]
# ## 4. 再训练能防通用补丁吗？
#
# 助教说，对抗补丁不修改模型，“通过修改模型来防御一个不修改模型的攻击是不常见的”。不常见不等于没用，这里检验一下。
# 通用对抗补丁 [@brown2017adversarial] 利用的是模型本来就有的弱点。我们在干净模型上训练一个通用补丁（目标类同上），然后：
# 在最大的干净集上微调模型；在同样的数据上微调，但其中一部分图片贴上**这个**补丁（标签不变）；最后让攻击者针对后者重新训练
# 一个新补丁（同样的步数）。

# %% tags=["hide-input"]
Markdown(f"本次设置：补丁 {meta['patch']}×{meta['patch']} 像素，目标类 {meta['target']}；针对补丁微调时 "
         f"{meta['patched_share']:.0%} 的图片贴着补丁。")

# %%
result.show("patch")

# %% tags=["hide-input"]
pt = {r["key"]: r for r in result.tables["patch"].rows}
Markdown(
    f"普通微调后，补丁的成功率从 {pt['original']['patch_success']:.0%} 变为 {pt['fine_tuned']['patch_success']:.0%}"
    + ("——不针对补丁的再训练留下了它的大部分成功率（几次独立运行见下表）。"
       if outcome["patch_survives_fine_tuning"] == "holds" else "（几次独立运行见下表）。")
    + f"在贴了这个补丁的数据上微调后，旧补丁只剩 {pt['patch_tuned']['patch_success']:.0%}，模型的干净准确率从 "
    f"{pt['original']['clean_acc']:.1%} 变为 {pt['patch_tuned']['clean_acc']:.1%}；攻击者针对新模型重新训练的补丁达到 "
    f"{pt['patch_tuned_new']['patch_success']:.0%}（原模型上 {pt['original']['patch_success']:.0%}）。"
    + ("所以再训练**能**防补丁，但防住的主要是它见过的那一个：下表每一次运行里，新补丁都比旧补丁强，又不如原模型上的补丁。"
       if outcome["new_patch_partly_returns"] == "holds" else "（新补丁与旧补丁、原模型上补丁的比较，在几次运行中没有一致的结论，见下表。）")
    + "一个自然的推论（本页没有测）是在训练中不断生成新补丁再训练，即补丁版的对抗训练；另一条路是带证书的防御"
    "（见 [q08](../q08-defense-cost/) 的 PatchCleanser）。"
)

# %%
result.show("patch_runs")

# %% [markdown]
# ## 5. 迁移学习：只重训最后一层
#
# 迁移学习的常见做法是冻结别人训练好的特征提取器，只在自己的数据上训练后面的层。BadNets 的作者已经发现，美国交通标志上
# 植入的后门在模型被迁移到瑞典交通标志（另一组类别，重新训练全连接层）后仍然存在，表现为带触发器时准确率平均下降约 25%
# [@gu2019badnets]。我们的设置是同一任务上的近似：在后门模型上冻结特征，把最后一层换成新初始化的，只用最大的那份干净数据训练它
# （常数学习率，不用上面的日程）。

# %%
result.show("transfer")

# %%
result.show("transfer_runs")

# %% tags=["hide-input"]
tr = {r["key"]: r for r in result.tables["transfer"].rows}
Markdown(
    f"只重训最后一层后，CA 是 {tr['head']['ca']:.1%}，ASR 从 {tr['none']['asr']:.0%} 变为 {tr['head']['asr']:.0%}。"
    + (f"{len(result.tables['transfer_runs'].rows)} 次独立运行都是这样（上表）：后门的大部分留在特征提取器里。"
       "（解释，未单独测量：触发器在特征空间里仍然把图片推到同一个地方，新的最后一层只要把那个地方分给目标类"
       "就又接上了。）在同一任务上，从不可信的来源拿来预训练模型再“迁移”，不等于把后门洗掉；换了类别的迁移（如 BadNets 的实验）"
       "里后门变成另一种破坏。迁移学习能当防御用的前提是特征提取器本身可信。"
       if outcome["backdoor_survives_transfer"] == "holds" else "这一次只重训最后一层就去掉了大部分后门（见判定表）。")
)

# %% [markdown]
# ## 6. 集成学习
#
# 把几个模型的投票合起来，只有在它们**不全都**见过毒时才有用：如果每个成员都在同一份中毒数据上训练，每个成员都学会了同一个
# 触发器，投票只会把后门保留下来。真正有效的集成是把训练数据**切开**：每个成员只看一部分数据、投票决定结果，一张毒图最多影响
# 一个成员的一票——这样投票可以证明对少量毒图不敏感，这就是分区聚合 DPA [@levine2021deep]。多样的架构、数据分区投票、
# 它们的代价，是 q10（集成与多样化架构，倪柯书的问题）要回答的，这里不重复。
#
# ## 7. 强化学习
#
# 我们没有为强化学习做实验，原因如下（论证，非测量）。强化学习解决的是“在环境里一步步做决定、拿回报”的问题；在图像识别的防御里，
# 它出现在两个位置：
#
# * **作为外层搜索**，决定怎么（再）训练。神经架构搜索的代表性早期工作用的是强化学习 [@zoph2017neural]，数据增强策略也可以
#   这样搜 [@cubuk2019autoaugment]；LAS-AT [@jia2022lasat] 用一个策略网络为对抗训练挑选每个样本的攻击策略（扰动大小、迭代
#   次数、步长）；也有工作用强化学习的智能体决定剪掉哪些神经元来去除后门 [@li2024rethinking]。在这些方法里，真正起防御作用的
#   仍然是再训练（对抗训练、剪枝），强化学习替人做选择。它需要一个“回报”：对抗训练可以用已知攻击下的准确率，但去除后门时
#   防御者不知道触发器，无法直接度量 ASR，只能依靠干净数据上的信号——同样离不开上面那份可信的干净集。
# * **作为被保护的对象**。强化学习的策略网络自己也会被对抗样本攻击 [@huang2017adversarial]、被植入后门 [@kiourti2020trojdrl]；
#   鲁棒对抗强化学习 [@pinto2017robust] 让一个对手智能体在训练中对环境施加干扰力（扰动的是环境动力学，不是观测），
#   可以看作“对抗训练”在强化学习里的对应物。
#   这是强化学习系统的防御，不是图像识别的防御。
#
# 所以：强化学习可以帮忙**选择**怎么训练，但它不是一种新的防御机制，绕不开本页测到的那些限制。

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
# answers run q09                  # 与本页相同的 site 配置
# answers run q09 --profile tiny   # 十秒左右的小配置
# ```
