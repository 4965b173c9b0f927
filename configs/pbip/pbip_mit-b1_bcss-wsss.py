# The entry point of earlier releases, kept at its path: PBIP stage one on
# BCSS-WSSS with the released settings, i.e. exactly
# pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py (MMSeg's naming scheme). Its
# work dir and default pseudo-label folder follow this file's name; the
# stage-two configs read pseudo_labels/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224
# (docs/changelog.md).
_base_ = ['./pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py']
