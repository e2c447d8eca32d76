"""A replica of the official re-id ``RGA_Module``: the formulation the paper describes.

microsoft/Relation-Aware-Global-Attention-Networks, ``reid/models/models_utils/rga_modules.py``
(Copyright (c) Microsoft Corporation, MIT license), with its layer names, shapes and forward
(minus its print): it materializes the relation matrix R and its 2N-channel stack.
It is the reference :func:`~mmseg_rga.models.convert.convert_official_rga` maps from (the tests
check that converted weights give the same outputs) and the baseline
``tools/analysis_tools/benchmark_relation.py`` measures :class:`~mmseg_rga.models.RGABlock`
against; the plugin's own modules never use it.
"""
import torch
import torch.nn as nn


def _conv_bn(cin: int, cout: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class OfficialRGAModule(nn.Module):
    """The official RGA_Module (spatial then channel), same parameter names and forward."""

    def __init__(self, in_channel, in_spatial, use_spatial=True, use_channel=True, cha_ratio=8,
                 spa_ratio=8, down_ratio=8):
        super().__init__()
        self.in_channel, self.in_spatial = in_channel, in_spatial
        self.use_spatial, self.use_channel = use_spatial, use_channel
        self.inter_channel = in_channel // cha_ratio
        self.inter_spatial = in_spatial // spa_ratio
        if use_spatial:
            self.gx_spatial = _conv_bn(in_channel, self.inter_channel)
            self.gg_spatial = _conv_bn(in_spatial * 2, self.inter_spatial)
            ns = 1 + self.inter_spatial
            self.W_spatial = nn.Sequential(
                nn.Conv2d(ns, ns // down_ratio, 1, bias=False), nn.BatchNorm2d(ns // down_ratio),
                nn.ReLU(), nn.Conv2d(ns // down_ratio, 1, 1, bias=False), nn.BatchNorm2d(1))
            self.theta_spatial = _conv_bn(in_channel, self.inter_channel)
            self.phi_spatial = _conv_bn(in_channel, self.inter_channel)
        if use_channel:
            self.gx_channel = _conv_bn(in_spatial, self.inter_spatial)
            self.gg_channel = _conv_bn(in_channel * 2, self.inter_channel)
            nc = 1 + self.inter_channel
            self.W_channel = nn.Sequential(
                nn.Conv2d(nc, nc // down_ratio, 1, bias=False), nn.BatchNorm2d(nc // down_ratio),
                nn.ReLU(), nn.Conv2d(nc // down_ratio, 1, 1, bias=False), nn.BatchNorm2d(1))
            self.theta_channel = _conv_bn(in_spatial, self.inter_spatial)
            self.phi_channel = _conv_bn(in_spatial, self.inter_spatial)

    def forward(self, x):
        b, c, h, w = x.size()
        if self.use_spatial:
            theta_xs = self.theta_spatial(x).view(b, self.inter_channel, -1).permute(0, 2, 1)
            phi_xs = self.phi_spatial(x).view(b, self.inter_channel, -1)
            Gs = torch.matmul(theta_xs, phi_xs)
            Gs_in = Gs.permute(0, 2, 1).view(b, h * w, h, w)
            Gs_out = Gs.view(b, h * w, h, w)
            Gs_joint = self.gg_spatial(torch.cat((Gs_in, Gs_out), 1))
            g_xs = torch.mean(self.gx_spatial(x), dim=1, keepdim=True)
            W_ys = self.W_spatial(torch.cat((g_xs, Gs_joint), 1))
            x = torch.sigmoid(W_ys.expand_as(x)) * x
            if not self.use_channel:
                return x
        xc = x.view(b, c, -1).permute(0, 2, 1).unsqueeze(-1)
        theta_xc = self.theta_channel(xc).squeeze(-1).permute(0, 2, 1)
        phi_xc = self.phi_channel(xc).squeeze(-1)
        Gc = torch.matmul(theta_xc, phi_xc)
        Gc_in = Gc.permute(0, 2, 1).unsqueeze(-1)
        Gc_out = Gc.unsqueeze(-1)
        Gc_joint = self.gg_channel(torch.cat((Gc_in, Gc_out), 1))
        g_xc = torch.mean(self.gx_channel(xc), dim=1, keepdim=True)
        W_yc = self.W_channel(torch.cat((g_xc, Gc_joint), 1)).transpose(1, 2)
        return torch.sigmoid(W_yc) * x
