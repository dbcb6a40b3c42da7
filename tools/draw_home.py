"Draw the home page's picture, nbs/images/bissl.png: the three stages, and BiSSL's two backbones with the spring between them."
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch, FancyArrowPatch

OUT = Path(__file__).resolve().parents[1]/'nbs'/'images'/'bissl.png'
BLUE, ORANGE, GREY, GREEN = '#3b6ea5', '#d9822b', '#6b6b6b', '#3a8a4f'

def box(ax, x, y, w, h, text, color, fs=10, weight='normal'):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.02,rounding_size=0.12', fc=color+'22', ec=color, lw=1.6))
    ax.text(x+w/2, y+h/2, text, ha='center', va='center', fontsize=fs, color='#222', weight=weight, linespacing=1.35)

def arrow(ax, a, b, color=GREY, text=None, toff=(0, 0), rad=0., style='-|>', lw=1.6, ls='-', fs=9, ha='center'):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=14, color=color, lw=lw, ls=ls,
                                 connectionstyle=f'arc3,rad={rad}', shrinkA=2, shrinkB=2))
    if text: ax.text((a[0]+b[0])/2+toff[0], (a[1]+b[1])/2+toff[1], text, ha=ha, va='center', fontsize=fs, color=color, linespacing=1.3)

def spring(ax, x0, x1, y, n=7, amp=0.12, color=GREY):
    import numpy as np
    xs = np.linspace(x0, x1, 2*n+3)
    ys = np.r_[y, y + amp*np.tile([1, -1], n+1)[:2*n+1], y]
    ax.plot(xs, ys, color=color, lw=1.5, solid_joinstyle='round')

def draw(out=OUT):
    fig, ax = plt.subplots(figsize=(10, 4.4), dpi=100)
    ax.set_xlim(0, 10); ax.set_ylim(0, 4.4); ax.axis('off')
    # the three stages
    box(ax, 0.05, 3.4, 2.9, 0.8, '1. pretext pretraining\n(SimCLR, BYOL, ...), unlabeled images', GREY, fs=9.5)
    box(ax, 3.75, 3.4, 2.5, 0.8, '2. BiSSL', GREY, fs=10.5, weight='bold')
    box(ax, 7.05, 3.4, 2.9, 0.8, '3. fine-tuning on the labels,\nfrom the lower backbone $\\theta_P$', GREY, fs=9.5)
    arrow(ax, (2.97, 3.8), (3.73, 3.8)); arrow(ax, (6.27, 3.8), (7.03, 3.8))
    arrow(ax, (5.0, 3.38), (5.0, 2.62), color=GREY, ls='--', lw=1.2)
    ax.text(5.08, 3.0, 'alternate: lower steps, then upper steps', ha='left', va='center', fontsize=8.5, color=GREY)
    # BiSSL's two levels
    box(ax, 0.05, 0.3, 3.45, 2.1, 'lower level: the pretext task\n\nbackbone $\\theta_P$ + pretext head\n'
        '$L_P(\\theta_P) + \\frac{\\lambda}{2}\\,\\|\\theta_P - \\theta_D\\|^2$\n20 steps per alternation', BLUE, fs=10)
    box(ax, 6.5, 0.3, 3.45, 2.1, 'upper level: the downstream task\n\nbackbone $\\theta_D$ + task head\n'
        '$L_D(\\theta_P^*(\\theta_D)) + \\gamma\\, L_D(\\theta_D)$\n8 steps per alternation', ORANGE, fs=10)
    spring(ax, 3.55, 6.45, 1.75)
    ax.text(5.0, 2.0, 'proximal term: a spring\ntying $\\theta_P$ to $\\theta_D$', ha='center', va='bottom', fontsize=9, color=GREY)
    arrow(ax, (3.55, 1.05), (6.45, 1.05), color=ORANGE)
    ax.text(5.0, 0.62, 'implicit gradient: how moving $\\theta_D$\nmoves where pretext training ends', ha='center',
            va='center', fontsize=8.8, color=ORANGE)
    fig.tight_layout(pad=0.2)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={'Software': None})
    plt.close(fig)
    return out

if __name__ == '__main__': print(draw())
