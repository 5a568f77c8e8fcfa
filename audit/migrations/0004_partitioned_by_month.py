from django.db import migrations


def forwards(apps, schema_editor):
    from audit.partitions import convert

    convert(schema_editor)


class Migration(migrations.Migration):
    atomic = True
    dependencies = [("audit", "0003_checkpoint")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
