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
# # q06 · 对抗训练比正常训练贵多少倍？
#
# > **耿瀚飞**（课后采纳）：防御方现在为了进行 Verification 会在训练过程中加入 Adversarial Data，因此也大大增加了训练成本。
# > 在现在的 Adversarial Training 中，训练成本和同数据集的正常训练相比，会高出多少倍？
#
# *What adversarial training really costs*
#
# 助教的回答：这取决于加入多少对抗数据；对抗训练收敛更慢，所以还要更久；最近有工作 [@shafahi2019adversarial]
# 宣称能和正常训练差不多快（一次反向传播同时更新模型参数和图片的扰动），“但是文中并没有出现训练 loss 随时间下降的图片”，
# 所以未必真有那么快。
#
# 这一页把助教想看的图画出来：同一个小卷积网、同一份数据，用每种方法**从头**训练，边训练边记录训练损失、干净准确率和
# PGD 下的准确率，横轴是墙钟时间。方法有：正常训练；PGD 对抗训练 [@madry2018towards]（每个小批量先做 k 步 PGD）；
# Free-AT [@shafahi2019adversarial]（每个小批量重放 m 次，每次反向传播同时更新权重和扰动，只训练 1/m 的 epoch）；
# 从随机起点出发的 FGSM（FGSM-RS）与从原图出发的 FGSM [@wong2020fast; @goodfellow2015explaining]。
# 然后把每种方法每个 epoch 的代价放在一起计时，与“前向+反向次数”给出的估计对比；在同样的预算下比较；引用两篇论文自己报告的
# 训练时间；最后用 `torchrun` 的多进程训练（DistributedDataParallel [@li2020pytorch]）看多一个进程能买到什么。
# 除了第 5 节引用的论文数字，下面每个数字都是本页构建时测得的。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result

result = page_result("q06")

meta = result.meta
print(f"data={meta['dataset']} ({meta['n_train']} training images), "
      f"SmallCNN width {meta['width']}, L∞ ε={meta['eps'] * 255:.0f}/255, {meta['epochs']} epochs (Free-AT: "
      f"{meta['epochs']}/m), batch {meta['batch']}")

# %% [markdown]
# ## 1. 助教要的曲线：准确率与损失对训练时间
#
# 每种方法训练同样多的 SGD 步（Free-AT 的 m 次重放算在里面），每走完相当于一个正常 epoch 的步数就停下来评估一次
# （评估的时间不计入横轴）。横轴是对数刻度，因为几种方法的总时间相差很大。

# %%
result.show("curves")

# %%
result.show("runs")

# %% tags=["hide-input"]
runs = {r["key"]: r for r in result.tables["runs"].rows}
outcome = result.outcomes
E = meta["epochs"]
starved = {k: v for k, v in result.claim_values("free_starves").items() if k != "natural"} if "free_starves" in outcome else {}
starved_runs = result.tables["starved_runs"].rows if "starved_runs" in result.tables else []
control = meta.get("free_control")
control_runs = result.tables["free_control_runs"].rows if control else []
Markdown(
    f"正常训练 {runs['natural']['train_seconds']:.0f} 秒训练完，干净准确率 {runs['natural']['clean_acc']:.0%}，"
    f"但 PGD 下只剩 {runs['natural']['robust_acc']:.0%}。"
    + "对抗训练的模型：" + "；".join(f"{r['方法 method']} {r['train_seconds']:.0f} 秒，干净 {r['clean_acc']:.0%}，"
                                   f"PGD 下 {r['robust_acc']:.0%}" for k, r in runs.items() if k != "natural") + "。"
    + (f"\n\n**m 大时，Free-AT 在这个预算下学不会。** 同样多的 SGD 步（{E} 个正常 epoch）里，Free-AT 只训练 {E}/m 个 epoch："
       + "，".join(f"m = {k[4:]} 时 {len(starved_runs)} 次独立训练的干净准确率平均只有 {v:.0%}" for k, v in starved.items())
       + "。按 Free-AT 作者代码的默认设置，80,000 步、每批 128 张相当于约 205 个 epoch，除以 m = 8 仍有约 26 个 epoch；"
       f"我们的预算只有 {E} 个 epoch。"
       if outcome.get("free_starves") == "holds" else "")
    + (f"对照：同一个 m = {control['m']}、同样的学习率，给它 {control['budget_epochs']} 个正常 epoch 的步数，"
       f"{len(control_runs)} 次独立训练里它都学会了（干净准确率平均 {result.claim_values('free_learns_given_epochs')['longer']:.0%}，"
       f"PGD 下平均 {sum(r['longer_robust'] for r in control_runs) / len(control_runs):.0%}）——缺的是训练轮数；"
       f"而给够轮数，它的总时间也就是正常训练的 {control['budget_epochs'] // E} 倍以上了。"
       if control and outcome.get("free_learns_given_epochs") == "holds" else "")
    + ("\n\n对抗训练达不到正常训练的干净准确率（下表：每一次独立训练里，跑了多次的几种对抗训练中最高的一个也更低）："
       "鲁棒性是用干净准确率换来的，不只是用时间换来的。"
       "所以“对抗训练比正常训练贵多少倍”要分两种问法：按同样多的训练（下一节）算，和按到同样的准确率算——"
       "后者在本页的预算内没有一种对抗训练做到。"
       if outcome["none_matches_natural"] == "holds" else
       "\n\n这一次不能判定对抗训练的干净准确率更低（见下表与判定表）。")
)

# %%
result.show("starved_runs") if "starved_runs" in result.tables else None   # the full profile starves no Free-AT

# %%
result.show("free_control_runs") if control else None

# %%
result.show("clean_runs")

# %% [markdown]
# ## 2. 每个 epoch 贵多少：实测与前向+反向次数
#
# 最直接的估计是数前向+反向的次数：正常训练每个小批量 1 次；PGD-k 先做 k 步攻击再训练一次，k+1 次；FGSM 2 次；
# Free-m 每个小批量 m 次，但只训练 1/m 的 epoch，总次数与正常训练相同。下表把每种方法的一次小批量更新放在一起，
# 轮流计时（同样的图片、同一份权重的副本），得到每个 epoch 相对正常训练的实测倍数。问的是计算量，所以计的是单线程的
# CPU 时间：机器上同时跑着别的程序时，墙钟时间会被拉长，这个线程的 CPU 时间不会（表里也列出墙钟时间之比）。每一轮里
# 各方法都除以同一轮的正常训练，结论按这些逐轮的值判定（符号检验与中位数的置信区间）；计时到能判定为止，轮数有事先定下的上限（用了几轮写在各结论的证据里）。

# %%
result.show("costs")

# %% tags=["hide-input"]
costs = {r["key"]: r for r in result.tables["costs"].rows}
c = result.claim_values("pgd_step_cheaper_than_training_step")["c"]
free = result.claim_values("free_close_to_natural")["ratio"]
free_m = min(int(k[4:]) for k in costs if k.startswith("free"))
pgd_keys = [k for k in costs if k.startswith("pgd")]
Markdown(
    "PGD-k 的实测倍数：" + "，".join(f"k={k[3:]} {costs[k]['ratio_per_epoch']:.1f} 倍（按次数估计 {costs[k]['passes_per_minibatch']} 倍）"
                                   for k in pgd_keys)
    + f"。每一轮计时都拟合成 1 + c·k，各轮 c 的中位数是 {c:.2f}："
    + ("每一步攻击比一次训练便宜，所以 PGD-k 比“k+1 倍”便宜。我们的解释（没有单独测量）：攻击只要对**输入**的梯度，"
       "反向传播时不用算卷积核的梯度，也不走优化器；另外攻击时 BatchNorm 用的是固定的统计量。"
       if outcome["pgd_step_cheaper_than_training_step"] == "holds" else
       "这一次每步攻击并不比一次训练便宜（见判定表）。")
    + f"\n\nFree-AT（m = {free_m}）整个训练是正常训练的 {free:.2f} 倍"
    + ("：总的前向+反向次数相同，它确实不是成倍地贵；但每个 epoch 它是正常训练的 "
       f"{costs[f'free{free_m}']['ratio_per_epoch']:.1f} 倍（按次数估计 {costs[f'free{free_m}']['passes_per_minibatch']} 倍）。"
       "（解释，没有单独测量：每一次重放比正常训练的一步多一点工作——梯度要一直传回输入，再更新扰动。）助教怀疑它“未必真能和正常训练一样快”——按同样多的 SGD 步，它几乎一样快；"
       "可第 1 节已经看到，同样多的步数未必换得来同样的结果。"
       if outcome["free_close_to_natural"] == "holds" else "（见判定表）。")
)

# %% [markdown]
# ## 3. 同样的预算，谁更鲁棒
#
# 把预算定为 FGSM-RS 整个训练的代价，用上一节的实测倍数折算成各方法能走的 epoch 数，读出每条曲线在那之前的最后一个检查点
# （下图的虚线是 FGSM-RS 训练记录里的时间）。更贵的训练在预算处被截断，它们的学习率计划也还没走完。

# %%
result.show("budget_curves")

# %%
result.show("budget")

# %% [markdown]
# 截断的曲线对 PGD-AT 不公平：它的学习率计划是按整个训练排的，在预算处还没走到峰值。所以同样的预算再比一次：预算按
# 前向+反向的次数算（与机器无关），PGD-7 按这个预算能走的 epoch 数从头训练，学习率计划完整走完。比较两种训练方法，
# 单位是一次独立训练：换一个种子（数据、初始化、顺序都跟着变），同一种方法会训练出另一个模型。

# %%
result.show("budget_runs")

# %% [markdown]
# 不限预算、各自训练完时，FGSM-RS 与 PGD-AT、Free-AT 与 PGD-AT 各自独立训练几次的结果（run 0 就是上面曲线里的那一对）。

# %%
result.show("runs_fgsm_rs_vs_pgd7")

# %%
result.show(next(name for name in result.tables if name.startswith("runs_free")))

# %% tags=["hide-input"]
br = result.tables["budget_runs"].rows
eb = {k: sum(r[k] for r in br) / len(br) for k in ("fgsm_rs", "pgd", "pgd_clean")}
fr = result.tables["runs_fgsm_rs_vs_pgd7"].rows
fr_learned = [r for r in fr if r["learned"]]
seeds_runs = result.tables[next(name for name in result.tables if name.startswith("runs_free"))].rows
free_learned = [r for r in seeds_runs if r["learned"]]
free_fraction = costs[f"free{free_m}"]["total_ratio"] / costs["pgd7"]["total_ratio"]
Markdown(
    f"同样多的前向+反向次数里，PGD-7 只够从头训练 {br[0]['pgd_epochs']} 个 epoch：{len(br)} 次独立训练平均，FGSM-RS 的 PGD 准确率 "
    f"{eb['fgsm_rs']:.0%}，PGD-7 {eb['pgd']:.0%}，它的干净准确率也只有 {eb['pgd_clean']:.0%}"
    + ("——在这个预算下从头做 PGD-AT 每一次都还没学会分类，FGSM-RS 每一次都学会了（见判定表）；没学会的模型谈不上鲁棒，"
       "所以这里比的是学不学得会，不是谁更鲁棒。"
       if outcome["pgd_starves_at_fast_budget"] == "holds" else "：这次不能判定 PGD-7 在这个预算下学不会（见判定表）。")
    + ("（按 CPU 时间算，PGD 的每步攻击比一次训练便宜（第 2 节的 c），PGD-7 在同样的时间里能多走一点；这里按次数算，"
       "是为了让预算不随机器而变。）" if outcome["pgd_step_cheaper_than_training_step"] == "holds" else
       "（这里的预算按前向+反向次数算，是为了让预算不随机器而变。）")
    + f"\n\n不限时间、各自训练完（同样 {E} 个 epoch）时，FGSM-RS 减 PGD-AT 的 PGD 准确率在 {len(fr)} 次独立训练里是 "
    + "、".join(f"{r['difference'] * 100:+.0f}" for r in fr) + " 个百分点；其中两个模型都学会了的有 "
    f"{len(fr_learned)} 次（PGD-AT 的干净准确率各次 " + "、".join(f"{r['pgd7_clean']:.1%}" for r in fr) + "）"
    + (f"，没学会的 {len(fr) - len(fr_learned)} 次不能拿来比鲁棒性，剩下的太少，所以" if len(fr_learned) < len(fr) else "。")
    + "本页不对“FGSM-RS 与 PGD-AT 一样鲁棒”作判定，只列出数据"
    "（Wong 等人在 CIFAR-10 上充分训练时报告两者相当，见第 5 节）。"
    + f"Free-AT m = {free_m} 的整个训练只要 PGD-7 的 {free_fraction:.0%} 的计算量（第 2 节的代价表）；它是否因此更不鲁棒，"
    f"本页同样不作判定：{len(seeds_runs)} 个种子里只有 {len(free_learned)} 个种子两者都学会了（上表）"
    + (f"，这几次的差是 " + "、".join(f"{r['difference'] * 100:+.0f}" for r in free_learned) + " 个百分点" if free_learned else "")
    + "。"
    + (f"从头做对抗训练 {E} 个 epoch 并不可靠——第 1 节的曲线只是其中一个种子。"
       if outcome.get("scratch_training_unreliable") == "holds" else "")
)

# %% [markdown]
# ## 4. FGSM 训练会不会“灾难性过拟合”？
#
# Wong 等人 [@wong2020fast] 发现，FGSM 对抗训练可能在训练中途突然失去对 PGD 的鲁棒性（PGD 准确率在几个 epoch 内掉到接近 0，
# 称为“灾难性过拟合”）；他们的代码仓库列出的诱因是 FGSM 步长过大、随机初始化只覆盖威胁范围的一小部分、训练过长。
# 先看第 1 节的两个模型：从原图出发的 FGSM 与从随机起点出发的 FGSM-RS（步长相同）。

# %%
result.show("overfitting")

# %% [markdown]
# 再到诱因所在的地方去找：把 FGSM-RS 的步长从默认值加大（两个步长见下表标题），几个种子各训练一次，看 PGD 准确率在训练中有没有崩。

# %%
result.show("overfitting_runs")

# %% tags=["hide-input"]
of = {r["key"]: r for r in result.tables["overfitting"].rows}
orun = result.tables["overfitting_runs"].rows
p_rs = meta["fgsm_random_start"]["McNemar_p"]
steps = meta["fgsm_rs_steps"]   # FGSM-RS's two step sizes, × ε
Markdown(
    f"从原图出发的 FGSM：PGD 准确率最高 {of['fgsm']['peak_robust_acc']:.0%}（第 {of['fgsm']['peak_epoch']:g} 个 epoch），"
    f"最后 {of['fgsm']['final_robust_acc']:.0%}；从随机起点出发：最高 {of['fgsm_rs']['peak_robust_acc']:.0%}，"
    f"最后 {of['fgsm_rs']['final_robust_acc']:.0%}（这一对训练完时之差的 McNemar p = {p_rs:.2g}，只是一次训练，不作判定）。"
    + (f"步长加大到 {steps['large']:g}ε（默认 {steps['default']:g}ε），{len(orun)} 次训练的 PGD 准确率也都没有崩（回落最多 {max(r['drop_large'] for r in orun) * 100:.0f} 个百分点）："
       f"在这个规模上（ε = {meta['eps'] * 255:.0f}/255、{E} 个 epoch）找不到灾难性过拟合，所以这里不能说“随机起点必不可少”，"
       "只能说在这个预算下它们都能用。（解释，未单独测量：论文看到它的地方是 ε = 8/255、更长的训练和大得多的网络。）"
       if outcome["large_step_does_not_collapse"] == "holds" else
       f"步长加大到 {steps['large']:g}ε 时，PGD 准确率在训练中崩掉了（见上表与判定表）：这就是 Wong 等人说的灾难性过拟合。")
)

# %% [markdown]
# ## 5. 助教说“文中没有训练 loss 随时间下降的图片”——但作者报告了训练时间
#
# Free-AT 的作者报告了每种方法在 CIFAR-10 上的训练时间（WideResNet 32-10，ε = 8/255）；Wong 等人 [@wong2020fast]
# 也给了三种方法的时间。下表是他们自己的数字（引用，不是本页测量；出处写在表注里）。

# %%
result.show("papers")

# %% tags=["hide-input"]
pp = [r for r in result.tables["papers"].rows if r["source"].startswith("Shafahi")]
free8 = next(r for r in pp if r["method"] == "Free m=8")
pgd7 = next(r for r in pp if r["method"].startswith("PGD-7"))
Markdown(
    f"按他们的数字，Free m=8 训练 {free8['minutes']} 分钟，是正常训练的 {free8['vs_natural']:.2f} 倍；PGD-7 训练 "
    f"{pgd7['minutes']} 分钟，是 {pgd7['vs_natural']:.1f} 倍。"
    + (f"本页同样多的 SGD 步下：Free-AT 是正常训练的 {free:.2f} 倍"
       + (f"，PGD-7 每个 epoch {costs['pgd7']['ratio_per_epoch']:.1f} 倍" if "pgd7" in costs else "") + "，方向一致。"
       if outcome["free_close_to_natural"] == "holds" else "")
    + "按作者代码的默认设置，Free-m 共走 80,000 步 SGD（每 m 步才取一个新的小批量，即 epoch 数除以 m），Madry 等人"
    "CIFAR-10 训练代码的配置也是 80,000 步——与本页“同样多的 SGD 步”的比法相同。Wong 等人的摘要说 FGSM-RS 在 6 分钟内"
    "就能得到 45% 的 PGD 准确率（ε = 8/255），仓库的表里是 12 分钟。"
    "\n\n所以助教的怀疑可以这样回答：论文给了总时间，按同样多的 SGD 步，Free-AT 确实和正常训练差不多快；它没有给的是"
    "随时间变化的曲线，而本页的曲线显示，步数一样时 Free-AT 未必学得到同样的结果。"
)

# %% [markdown]
# ## 6. 多进程训练：一个进程 vs 两个进程
#
# 论文规模的训练不会在一个 CPU 上跑。本项目的训练器在 `torchrun` 之下自动变成多进程数据并行：每个进程一个模型副本，
# 用 DistributedDataParallel [@li2020pytorch] 包起来，每个全局小批量分给各进程一份，反向传播时用 AllReduce 把梯度平均
# （CPU 上走 gloo，GPU 上走 nccl）。梯度平均之后，更新与一个进程在整个小批量上的更新相同（没有 BatchNorm 的模型完全相同，
# 测试里验证；有 BatchNorm 时每个进程用自己那一份的统计量，所以只是接近）。
#
# 下表在构建本页的机器上比较：一个进程用全部核做线程，对比两个进程平分这些核，全局 batch 相同。

# %%
result.show("processes")

# %% tags=["hide-input"]
pr = {r["processes"]: r for r in result.tables["processes"].rows}
Markdown(
    f"一个进程（{pr[1]['threads_each']} 个线程）每个 epoch {pr[1]['seconds_per_epoch']:.2f} 秒，两个进程（各 "
    f"{pr[2]['threads_each']} 个线程）{pr[2]['seconds_per_epoch']:.2f} 秒（{pr[2]['speedup']:.2f} 倍的速度；"
    f"每种只计了 {pr[1]['timed_epochs']} 个 epoch，没有重复计时，只看量级）。核数相同，这里比的只是两种分工：一个进程里几个线程合算每个算子，"
    "还是几个进程各算一部分小批量、每步再用一次 AllReduce 交换梯度；总算力没有变，所以不该指望明显加速。"
    "\n\n换到更多的核或 GPU，情形不同：每加一个进程就多一份算力，而每一步要通信的只是一份梯度（与模型大小成正比，"
    "用 ring AllReduce 时每个进程收发的量几乎不随进程数增长），所以只要每个进程分到的小批量还能把设备喂饱，"
    "每个 epoch 的时间随进程数近似线性下降——PyTorch DDP 的论文报告在 256 块 GPU 上接近线性扩展 [@li2020pytorch]。"
    f"（解释，本页没有在多台设备上测量：PGD-AT 每个小批量的计算是正常训练的 1 + c·k 倍（本页 c = {c:.2f}），"
    "而每个小批量只交换一次梯度，所以按道理它比正常训练更适合这样扩展；Free-AT 每次重放都更新一次权重，"
    "每个 epoch 要交换的梯度次数也就是正常训练的 m 倍。）"
)

# %% [markdown]
# 论文规模（CIFAR-10，ε = 8/255）在本地运行：CIFAR-10 要自己下载解压（本项目从不下载），然后用 `torchrun` 启动，
# 每个进程跑同一个答案、训练时自动数据并行，rank 0 打印结果：
#
# ```bash
# torchrun --nproc-per-node 8 -m answers run q06 --profile full --data-dir ~/data/cifar10
# ```

# %% [markdown]
# ## 回答

# %% tags=["hide-input"]
Markdown(
    f"* **按同样多的训练算**：PGD-k 按前向+反向次数估计是 k+1 倍，实测约 1 + {c:.2f}·k 倍"
    + "（" + "，".join(f"PGD-{k[3:]} {costs[k]['ratio_per_epoch']:.1f} 倍" for k in pgd_keys) + "）"
    f"；FGSM 约 {costs['fgsm_rs']['ratio_per_epoch']:.1f} 倍；Free-AT 整个训练是正常训练的 {free:.2f} 倍（m = {free_m}）。"
    "这是“高出多少倍”最直接的回答。\n"
    "* **按得到什么算**："
    + ("对抗训练达不到正常训练的干净准确率，鲁棒性要用准确率和时间一起换。" if outcome["none_matches_natural"] == "holds" else "")
    + ("同样多的前向+反向次数里，按这个预算从头训练的 PGD-AT 连分类都没学会，FGSM-RS 学会了；各自训练完时谁更鲁棒，"
       "本页的预算下判定不了（PGD-AT 并不每次都学得会）。"
       if outcome["pgd_starves_at_fast_budget"] == "holds" else "FGSM-RS 与 PGD-AT 的比较见判定表。")
    + ("Free-AT 按同样多的步数几乎和正常训练一样快，但在这么短的训练里，m 大了就学不会，"
       f"给它 {control['budget_epochs'] // E if control else '更多'} 倍的步数就学会了（更少的倍数本页没有试）——"
       "助教的怀疑在这里有一半成立：它每一步确实便宜，要得到同样的结果却需要更多的 epoch。"
       if outcome.get("free_starves") == "holds" and outcome.get("free_learns_given_epochs", "holds") == "holds" else "")
    + "\n* 多进程（`torchrun` + DDP）改变的是墙钟时间（解释，本页只测了两个进程训练出同样的曲线，没有测总计算量："
    "多进程把同样的计算分到更多设备上）——对抗训练贵的那几倍，要用更多的设备去买。\n\n"
    "推理时防御的代价见 [q08](../q08-defense-cost/)。"
)

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据（同一批测试图上的配对检验、区间、计时的四分位距）判定：✓ 成立、✗ 不成立、? 证据不足。

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q06                  # 与本页相同的 site 配置
# answers run q06 --profile tiny   # 小配置，测试用（与 site 共用训练好的模型）
# ```
