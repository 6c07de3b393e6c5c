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
# # q01 · 图像识别为什么这么容易被骗？
#
# > **朱结奥**（讲课当天助教采纳）：请问现在的图像检测器为什么这么容易受攻击？人眼还是比较难欺骗的，除非对物体作物理上较大的调整以实现伪装。
#
# *Why are today's image recognizers so easy to attack, when people are hard to fool?*
#
# 助教的回答有三层：① 机器和人判断的方式不同——人靠宏观轮廓，机器靠局部纹路（“人眼不可能看一小块猫的毛皮就认出是哪种猫，
# 但人工智能可以”）；② CNN 的神经元有有限的感受野；③ Zeiler 与 Fergus 的可视化 [@zeiler2014visualizing]
# 显示网络“看到的更多的是纹路”。本页在我们自己的模型上逐条测量，并补上问题本身问的那一点：**多小的扰动就足以骗过模型**。
#
# 下面的**简短回答**按本页构建时的判定写出；其中的机制是文献的解释，本页测的是它的后果（方向比大小重要），不是解释本身。

# %%
from IPython.display import Markdown

from answers.kb.page import page_result
from answers.lab.data import NUM_CLASSES

result = page_result("q01")


def claim(claim_id):
    return next(c for c in result.claims if c.id == claim_id).values


def pct(v):
    return f"{v * 100:.0f}%"


print(f"width={result.meta['width']}")

# %% tags=["hide-input"]
outcome = result.outcomes
Markdown(
    "**简短回答：** "
    + ("我们的标准模型有纹理偏好，但把它改成形状偏好并没有让模型更难被骗。"
       if outcome["standard_model_follows_texture"] == "holds" and outcome["shape_bias_is_not_robustness"] == "holds" else "")
    + "在形状和纹理同时可用的数据上，标准训练的小 CNN "
    + ("主要按纹理判断（与 Geirhos 等在 ImageNet 上的发现一致 [@geirhos2019imagenet]；占比见第 1 节）；"
       if outcome["standard_model_follows_texture"] == "holds" else "这一次没有被判定为主要按纹理判断（见判定表）；")
    + (f"可是把同一网络改训成按形状判断后，同样的 ε = {result.meta['eps_at']} 下它的正确预测反而被翻转得**更多**。" if outcome["shape_bias_is_not_robustness"] == "holds"
       else "把同一网络改训成按形状判断后，这一次没有测出它更难还是更容易被骗（见判定表）。")
    + "文献给出的解释（本页未测）是：模型的判断依赖沿梯度方向极其敏感的特征 [@goodfellow2015explaining; @ilyas2019adversarial]；"
    + ("本页测到的后果是：同样大小的随机噪声几乎无害，沿梯度方向的扰动却翻转了绝大多数预测。" if outcome["direction_not_size"] == "holds"
       else "它的后果（方向比大小重要）这一次没有被判定成立（见判定表）。")
    + ("把攻击纳入训练（对抗训练 [@madry2018towards]）后，同样的 ε 下被翻转的正确预测变少了（我们只测了这一种办法）。"
       if outcome["adversarial_training_moves_the_threshold"] == "holds" else "对抗训练 [@madry2018towards] 这一次没有被判定在同样的 ε 下翻转得更少。")
    + "下面每个数字都是本页构建时测得的。"
)

# %% [markdown]
# ## 实验对象：每一类既有形状也有纹理
#
# 数据由种子生成、无需下载：十类标志各有一个**形状**（圆、圆环、方形、菱形……）和一种**纹理**（横条纹、竖条纹、斜条纹、
# 棋盘格、圆点、网格、噪点、斑块、波纹……），纹理的相位、周期和颜色随机，背景是随机渐变加像素噪声。训练三个同结构的小 CNN：
#
# * **standard**：训练图里形状和纹理总是一致（两条线索都能预测类别）；
# * **shape-trained**：训练图里纹理随机抽取，只有形状能预测类别（思路同 Geirhos 等的 Stylized-ImageNet：让纹理不再预示类别；他们用画作的风格替换纹理，我们用随机抽的纹理）；
# * **PGD-AT**：与 standard 同样的数据，做 L∞ 对抗训练（预算与其他页面相同，数值见第 3 节）。
#
# ## ① 纹理还是形状？
#
# 测试用**线索冲突图**：A 类的形状披着 B 类的纹理。模型说 A 就是按形状判断，说 B 就是按纹理判断。另外两组对照：
# 整幅图只有纹理、没有轮廓（助教说的“一小块毛皮”），以及只有单色轮廓、没有纹理。

# %%
result.show("cue_conflict")

# %%
result.show("cue_conflict_examples")

# %% tags=["hide-input"]
rows = {r["模型 model"]: r for r in result.tables["cue_conflict"].rows}
Markdown(
    f"标准模型在线索冲突图上 **{pct(rows['standard']['texture_share'])}** 的判断跟随纹理；只给纹理时它仍认对 "
    f"{pct(rows['standard']['texture_only_acc'])}（机会水平 {pct(1 / NUM_CLASSES)}），只给单色轮廓时只认对 {pct(rows['standard']['shape_only_acc'])}。"
    f"同一网络在纹理随机的数据上训练后，纹理占比降到 **{pct(rows['shape-trained']['texture_share'])}**。"
    f"对抗训练的模型纹理占比为 {pct(rows['PGD-AT']['texture_share'])}（一次训练；与标准模型的差只列出，不作判定）。"
)

# %% tags=["hide-input"]
Markdown(
    ("助教的第一层说法在这里成立：**两条线索都能用时，网络挑了纹理**。"
     if outcome["standard_model_follows_texture"] == "holds" else "助教的第一层说法这一次没有被判定成立（见判定表）。")
    + "Geirhos 等在 ImageNet 上报告：线索冲突图上人类约 96% 按形状判断，而 ImageNet 训练的 ResNet-50 只有约 22% "
    "[@geirhos2019imagenet]。shape-trained 一行说明，同一网络在纹理无用的数据上会按形状判断，所以偏好取决于训练数据"
    "（这是对照，见自检 shape_control_follows_shape）。"
    "（解释，未测量：纹理只需一小块局部图案就能认出，形状则要把整圈轮廓拼起来，所以数据允许时网络先学会纹理。）"
)

# %% [markdown]
# ## ② 感受野：每个单元能看到多大一块？
#
# 助教对感受野的定义——“多大的一个区域能使某一个神经元的值改变”——正是**理论感受野**，可以由卷积核、步长和填充推算；
# 我们再用梯度直接测：对某层中心单元求 |∂单元/∂像素|，不为零的范围就是它实际能被影响的范围。
# 影响并不均匀：Luo 等发现**有效感受野**只占理论窗口中央的一块 [@luo2016understanding]，这里用含 50% / 90% 梯度质量的最小正方形来量。
# 这是叠加卷积本身的性质（Luo 等推导过，未训练的网络也如此），所以本页把它当作自检，并用同一网络的初始权重作对照，而不当作训练得来的结论。

# %%
result.show("receptive_fields")

# %%
result.show("receptive_field_maps")

# %% tags=["hide-input"]
rf = {r["layer"]: r for r in result.tables["receptive_fields"].rows}
Markdown(
    f"最深的卷积层（conv3）每个单元的理论感受野是 **{rf['conv3']['theoretical_rf']}×{rf['conv3']['theoretical_rf']}** 像素"
    f"（整幅图 {rf['conv3']['image_size']}×{rf['conv3']['image_size']}），一半的梯度质量集中在中央 "
    f"{rf['conv3']['effective_rf_50']:g}×{rf['conv3']['effective_rf_50']:g} 的方块里。"
    f"但模型的输出对整幅图的 {rf['output']['gradient_support']}×{rf['output']['gradient_support']} 像素都有梯度："
    "全局平均池化把各处局部单元的响应平均起来再分类。"
)

# %% [markdown]
# 所以“感受野有限”要分两层看：**单个单元**确实只看局部；但**判断**是所有位置局部证据的投票。
# Brendel 与 Bethge 的 BagNet 只看 33×33 的小块、不管小块之间的空间关系，在 ImageNet 上就达到 87.6% 的 top-5 准确率，
# 而且 VGG、ResNet 等标准 CNN 的行为与这种“局部特征袋”模型相似 [@brendel2019approximating]。（解释，未测量：）投票式的判断
# 可以解释①——纹理在形状内部处处出现，每个位置都投它一票；轮廓只在边缘上，票数少得多。

# %% [markdown]
# ## ③ 多小的扰动就够了？
#
# 对每个模型原本判断正确的图片，在一组 ε（L∞，单位 /255）上跑 PGD，记录首次被翻转的 ε；
# 同时把**同样预算**花在随机 ±ε 噪声上作对照。

# %%
result.show("minimal_eps")

# %%
result.show("accuracy_vs_eps")

# %%
result.show("adversarial_examples")

# %% tags=["hide-input"]
small, direction = claim("small_eps_flips_half"), claim("direction_not_size")
runs = result.tables["training_runs"].rows
eps50 = {r["模型 model"]: r["eps50_255"] for r in result.tables["minimal_eps"].rows if r["attack"].startswith("PGD")}


def eps_text(v):
    return f"超出网格（>{direction['eps_255']:g}/255）" if v is None else f"{v:g}/255"


Markdown(
    f"ε = {small['eps_255']:g}/255 时 PGD 已翻转标准模型 **{pct(small['flipped'])}** 的正确预测，而训练数据本身每张图就带有 σ 最高 "
    f"{small['data_noise_sigma_max_255']:.0f}/255 的高斯像素噪声。ε = {direction['eps_255']:g}/255 时 PGD 翻转了 {pct(direction['pgd_flipped'])}，"
    f"同样大小的随机 ±ε 噪声只翻转了 **{pct(direction['noise_flipped'])}**。"
    f"一半正确预测被翻转所需的 ε：标准模型 {eps_text(eps50['standard'])}，按形状判断的 shape-trained 模型 "
    f"**{eps_text(eps50['shape-trained'])}**（{result.meta['eps_at']} 时翻转 {pct(runs[0]['shape_flipped_at_threat'])}，标准模型 "
    f"{pct(runs[0]['standard_flipped_at_threat'])}），对抗训练的模型 {eps_text(eps50['PGD-AT'])}。"
    f"这几个模型之间的比较是**训练方法**之间的比较，一次训练可能只是一个种子的运气，所以判定按 {len(runs)} 次独立训练来做"
    "（下表；每次用自己的种子生成数据、训练三个模型）："
)

# %%
result.show("training_runs")

# %% [markdown]
# 这一节给出与助教解释**不同**的结论：
#
# * **方向比大小重要。** 随机噪声几乎无害，而沿梯度方向、同样大小的扰动能翻转几乎所有预测。Goodfellow 等的解释是：
#   高维输入上，每个像素一点点沿权重符号方向的改变会累加成很大的输出变化 [@goodfellow2015explaining]；
#   Ilyas 等进一步认为这些敏感方向本身就是数据里有预测力、但人看不出的“非鲁棒特征” [@ilyas2019adversarial]。
# * **纹理偏好不是原因。** 如果“靠纹理”是易受骗的根源，按形状判断的模型应该更难骗；实测正相反（上表每一次训练，
#   判定见 `shape_bias_is_not_robustness`）。（解释，未另行测量：在我们的数据上，纹理是大面积、高对比的重复图案，
#   要改掉它得改很多像素；形状信息只在轮廓边缘的少数像素上，反而更容易被推翻。）
#   Geirhos 等报告的“提高形状偏好能提高鲁棒性”指的是对噪声、模糊等常见失真的鲁棒性，并不是对抗扰动 [@geirhos2019imagenet]。
# * **人眼也不是不会被骗**，只是骗人的扰动与骗机器的扰动不同：模型是在训练数据上用梯度找最省事的特征，
#   攻击者用同一个梯度找最省事的改法。对抗训练 [@madry2018towards] 直接把这种改法放进训练（解释；本页测的是同样 ε 下翻转得更少）。

# %% [markdown]
# ## ④ 各层看到了什么？
#
# 助教引用的图来自 Zeiler 与 Fergus [@zeiler2014visualizing]。需要更正一点：那篇论文展示的是一个**层级**——第 1、2
# 层对边缘、颜色和角点响应，第 3 层出现纹理类的图案，第 4、5 层已经对狗脸、鸟腿乃至整个物体（带姿态变化）有选择性；
# 它并没有说网络只看纹路。我们用同样的思路（每个通道最强激活的图块）在自己的模型上量：
# 每个通道最强激活的若干张线索冲突图，是同一种纹理多，还是同一种形状多？

# %%
result.show("unit_selectivity")

# %%
result.show("top_patches")

# %%
result.show("activation_maps")

# %% tags=["hide-input"]
units = {(r["模型 model"], r["layer"]): r for r in result.tables["unit_selectivity"].rows}
std3, shp3, shp1 = units[("standard", "conv3")], units[("shape-trained", "conv3")], units[("shape-trained", "conv1")]
Markdown(
    f"标准模型 conv3 的通道：最强激活图片中同一纹理占 **{pct(std3['texture_purity'])}**，同一形状只占 "
    f"{pct(std3['shape_purity'])}（随机挑图时 {pct(std3['chance_purity'])}）。shape-trained 模型的 conv3 反过来："
    f"同一形状 **{pct(shp3['shape_purity'])}**，同一纹理 {pct(shp3['texture_purity'])}；"
    + ("但它的 conv1 仍偏向纹理" if shp1["texture_purity"] > shp1["shape_purity"] else "它的 conv1 也不偏向纹理")
    + f"（{pct(shp1['texture_purity'])} 对 {pct(shp1['shape_purity'])}，这一次训练的模型，只列出、不作判定）。"
    "conv3 的两个方向在几次独立训练里是否都成立，见下表（结论按训练次数判定）。"
    "（解释，不是测得的结论：浅层看局部图案，深层看什么由训练数据决定，这与 Zeiler 与 Fergus 的层级图景一致。）"
)

# %%
result.show("unit_runs")

# %% [markdown]
# ## 结论与自检
#
# 每条结论由测得的数值、写明的规则和统计证据判定：✓ 成立、✗ 不成立、? 证据不足（比较的两个模型干净准确率相差超过 10 个百分点时，
# 比较被视为混杂，结论只能是“证据不足”）。下表把助教的说法与本页的结论对应起来，判定来自本次运行：

# %% tags=["hide-input"]
MARK = {"holds": "成立", "fails": "不成立", "inconclusive": "证据不足"}


def verdict(*ids):
    return "；".join(f"{MARK[result.get_claim(i).outcome]}（{i}）" for i in ids)


Markdown("\n".join([
    "| 助教的说法 | 本页的测量 | 判定 |", "| --- | --- | --- |",
    "| 机器靠细节/纹路，人靠宏观 | 两条线索都可用时标准模型按纹理判断；换成纹理随机的数据训练就改为看形状 | "
    + verdict("standard_model_follows_texture", "a_patch_of_texture_is_enough") + "；对照自检 shape_control_follows_shape |",
    "| CNN 感受野有限 | 单元层面有限，有效感受野更小；输出通过全局池化依赖整幅图 | "
    + "自检 effective_field_is_smaller（叠加卷积的性质，未训练的同一网络也如此）、local_units_global_vote |",
    "| 网络看到的更多是纹路（Zeiler & Fergus） | 标准模型的深层通道按纹理聚类；换数据训练后按形状聚类 | "
    + verdict("deep_units_are_texture_detectors", "shape_training_changes_what_units_see") + " |",
    "| （隐含）因此容易被攻击 | 按形状判断的模型并不更难骗；关键是梯度方向；对抗训练的模型在同样 ε 下翻转得更少 | "
    + verdict("shape_bias_is_not_robustness", "direction_not_size", "adversarial_training_moves_the_threshold") + " |",
]))

# %%
result.show_claims()

# %% [markdown]
# ## 在本地运行
#
# ```bash
# answers run q01                  # 与本页相同的 site 配置
# answers run q01 --profile tiny   # 几秒钟的小配置
# answers run q01 --figures out/   # 同时把图存成 PNG
# ```
