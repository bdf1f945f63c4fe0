"""chainrule.io"""
